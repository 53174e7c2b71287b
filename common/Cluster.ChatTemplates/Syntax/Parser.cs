namespace Cluster.ChatTemplates.Syntax;

/// <summary>
/// Parses the statements of a template (for, if, set, macro, loop controls, transformers' generation block);
/// expressions are in the other half of this class. Anything else Jinja knows (include, extends, import, call,
/// filter blocks, …) fails here with its name and position, so an unsupported template is refused at load.
/// </summary>
internal sealed partial class Parser
{
    /// <summary>Jinja statements that real chat templates do not need and this interpreter does not implement.</summary>
    private static readonly HashSet<string> UnsupportedStatements =
        ["include", "extends", "import", "from", "block", "call", "filter", "with", "do", "autoescape", "trans", "raw", "print"];

    private readonly List<Token> _tokens;
    private readonly Func<string, bool> _isKnownFilter;
    private readonly Func<string, bool> _isKnownTest;
    private int _index;

    private Parser(List<Token> tokens, Func<string, bool> isKnownFilter, Func<string, bool> isKnownTest)
    {
        _tokens = tokens;
        _isKnownFilter = isKnownFilter;
        _isKnownTest = isKnownTest;
    }

    /// <summary>
    /// Parses a whole template. The known filter and test names come from the renderer, so that a name it cannot
    /// apply fails here, at load, and not on the first request that reaches it.
    /// </summary>
    public static IReadOnlyList<Statement> Parse(string source, Func<string, bool> isKnownFilter, Func<string, bool> isKnownTest)
    {
        var parser = new Parser(Lexer.Tokenize(source), isKnownFilter, isKnownTest);
        var (body, _) = parser.ParseBody(null);
        return body;
    }

    private Token Current => _tokens[_index];

    private Token Peek(int ahead = 1) => _tokens[Math.Min(_index + ahead, _tokens.Count - 1)];

    private Token Advance() => _tokens[_index++];

    private static ChatTemplateException Error(Token at, string message) => new(message, at.Line, at.Column);

    private Token Expect(TokenKind kind, string? text, string what)
    {
        if (Current.Kind != kind || (text is not null && Current.Text != text))
            throw Error(Current, $"expected {what}, found {Current}");
        return Advance();
    }

    private Token ExpectName(string what) => Expect(TokenKind.Name, null, what);

    private void ExpectBlockEnd() => Expect(TokenKind.BlockEnd, null, "'%}'");

    private bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        _index++;
        return true;
    }

    private bool SkipOperator(string op)
    {
        if (!Current.IsOperator(op)) return false;
        _index++;
        return true;
    }

    /// <summary>
    /// Statements until a block tag named in <paramref name="ends"/> (consumed up to its name, which is returned),
    /// or to the end of the template when <paramref name="ends"/> is null.
    /// </summary>
    private (List<Statement> Body, string? End) ParseBody(Opening? opening, params string[] ends)
    {
        var body = new List<Statement>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.EndOfTemplate:
                    if (opening is null) return (body, null);
                    throw Error(opening.Token, $"'{{% {opening.Name} %}}' is never closed: expected {string.Join(" or ", ends.Select(e => $"'{{% {e} %}}'"))} before the end of the template");
                case TokenKind.Text:
                    body.Add(new TextStatement(token.Text, token.Line, token.Column));
                    _index++;
                    break;
                case TokenKind.VariableBegin:
                    _index++;
                    var value = ParseTupleOrExpression();
                    Expect(TokenKind.VariableEnd, null, "'}}'");
                    body.Add(new OutputStatement(value, token.Line, token.Column));
                    break;
                case TokenKind.BlockBegin:
                    var name = Peek();
                    if (name.Kind == TokenKind.Name && ends.Contains(name.Text))
                    {
                        _index += 2;
                        return (body, name.Text);
                    }
                    _index++;
                    ParseStatement(token, body);
                    break;
                default:
                    throw Error(token, $"unexpected {token}");
            }
        }
    }

    private sealed record Opening(Token Token, string Name);

    private void ParseStatement(Token begin, List<Statement> body)
    {
        var keyword = ExpectName("a statement name after '{%'");
        switch (keyword.Text)
        {
            case "for": body.Add(ParseFor(keyword)); break;
            case "if": body.Add(ParseIf(keyword)); break;
            case "set": body.Add(ParseSet(keyword)); break;
            case "macro": body.Add(ParseMacro(keyword)); break;
            case "break" or "continue":
                ExpectBlockEnd();
                body.Add(new LoopControlStatement(keyword.Text == "break", keyword.Line, keyword.Column));
                break;
            case "generation":
                // transformers' AssistantTracker extension: marks the assistant's tokens for training masks; renders its body as is.
                ExpectBlockEnd();
                body.AddRange(ParseBody(new Opening(keyword, "generation"), "endgeneration").Body);
                ExpectBlockEnd();
                break;
            default:
                if (UnsupportedStatements.Contains(keyword.Text))
                    throw Error(begin, $"unsupported statement '{{% {keyword.Text} %}}'");
                throw Error(begin, $"unknown or misplaced statement '{{% {keyword.Text} %}}'");
        }
    }

    private ForStatement ParseFor(Token keyword)
    {
        var targets = new List<string>();
        var parenthesized = SkipOperator("(");
        do targets.Add(ExpectName("a loop variable name").Text);
        while (SkipOperator(","));
        if (parenthesized) Expect(TokenKind.Operator, ")", "')'");
        Expect(TokenKind.Name, "in", "'in'");
        var items = ParseOr(); // no conditional expression here: a trailing 'if' is the loop filter
        var filter = SkipName("if") ? ParseExpression() : null;
        if (Current.IsName("recursive")) throw Error(Current, "unsupported loop modifier 'recursive'");
        ExpectBlockEnd();
        var opening = new Opening(keyword, "for");
        var (body, end) = ParseBody(opening, "endfor", "else");
        List<Statement> otherwise = [];
        if (end == "else")
        {
            ExpectBlockEnd();
            otherwise = ParseBody(opening, "endfor").Body;
        }
        ExpectBlockEnd();
        return new ForStatement(targets, items, filter, body, otherwise, keyword.Line, keyword.Column);
    }

    private IfStatement ParseIf(Token keyword)
    {
        var branches = new List<(Expression, IReadOnlyList<Statement>)>();
        var opening = new Opening(keyword, "if");
        var condition = ParseExpression();
        while (true)
        {
            ExpectBlockEnd();
            var (body, end) = ParseBody(opening, "elif", "else", "endif");
            branches.Add((condition, body));
            if (end == "elif")
            {
                condition = ParseExpression();
                continue;
            }
            List<Statement> otherwise = [];
            if (end == "else")
            {
                ExpectBlockEnd();
                otherwise = ParseBody(opening, "endif").Body;
            }
            ExpectBlockEnd();
            return new IfStatement(branches, otherwise, keyword.Line, keyword.Column);
        }
    }

    private Statement ParseSet(Token keyword)
    {
        var name = ExpectName("a variable name after 'set'").Text;
        string? attribute = null;
        if (SkipOperator(".")) attribute = ExpectName("an attribute name").Text;
        if (Current.IsOperator(",")) throw Error(Current, "unsupported: assigning several variables in one '{% set %}'");
        if (attribute is null && Current.Kind == TokenKind.BlockEnd)
        {
            _index++;
            var body = ParseBody(new Opening(keyword, "set"), "endset").Body;
            ExpectBlockEnd();
            return new SetBlockStatement(name, body, keyword.Line, keyword.Column);
        }
        Expect(TokenKind.Operator, "=", "'='");
        var value = ParseTupleOrExpression();
        ExpectBlockEnd();
        return new SetStatement(name, attribute, value, keyword.Line, keyword.Column);
    }

    private MacroStatement ParseMacro(Token keyword)
    {
        var name = ExpectName("a macro name").Text;
        Expect(TokenKind.Operator, "(", "'('");
        var parameters = new List<(string, Expression?)>();
        while (!SkipOperator(")"))
        {
            if (parameters.Count > 0) Expect(TokenKind.Operator, ",", "',' or ')'");
            if (SkipOperator(")")) break;
            var parameter = ExpectName("a parameter name").Text;
            parameters.Add((parameter, SkipOperator("=") ? ParseExpression() : null));
        }
        ExpectBlockEnd();
        var body = ParseBody(new Opening(keyword, "macro"), "endmacro").Body;
        if (Current.Kind == TokenKind.Name) _index++; // {% endmacro name %}
        ExpectBlockEnd();
        return new MacroStatement(name, parameters, body, keyword.Line, keyword.Column);
    }

    private static void CheckKnown(Token at, string kind, string name, bool known)
    {
        if (!known) throw Error(at, $"unknown {kind} '{name}'");
    }
}
