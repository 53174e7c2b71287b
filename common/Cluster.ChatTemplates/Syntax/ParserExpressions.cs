using System.Globalization;
using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Syntax;

/// <summary>
/// Expressions, with Jinja's precedence from loosest to tightest: conditional (<c>a if c else b</c>), <c>or</c>,
/// <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>, <c>* / // %</c>, <c>**</c>, unary
/// minus, then primaries with their postfixes (<c>.attr</c>, <c>[i]</c>, <c>(args)</c>) and filters and tests
/// (<c>|f</c>, <c>is t</c>), which bind tighter than any operator: <c>'a' + x | trim</c> trims only x.
/// </summary>
internal sealed partial class Parser
{
    private Expression ParseTupleOrExpression()
    {
        var first = ParseExpression();
        if (!Current.IsOperator(",")) return first;
        var items = new List<Expression> { first };
        while (SkipOperator(",") && Current.Kind is not (TokenKind.BlockEnd or TokenKind.VariableEnd))
            items.Add(ParseExpression());
        return new ListExpression(items, first.Line, first.Column);
    }

    private Expression ParseExpression()
    {
        var value = ParseOr();
        while (Current.IsName("if"))
        {
            var at = Advance();
            var condition = ParseOr();
            var otherwise = SkipName("else") ? ParseExpression() : null;
            value = new ConditionalExpression(condition, value, otherwise, at.Line, at.Column);
        }
        return value;
    }

    private Expression ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var at = Advance();
            left = new BinaryExpression("or", left, ParseAnd(), at.Line, at.Column);
        }
        return left;
    }

    private Expression ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var at = Advance();
            left = new BinaryExpression("and", left, ParseNot(), at.Line, at.Column);
        }
        return left;
    }

    private Expression ParseNot()
    {
        if (!Current.IsName("not")) return ParseCompare();
        var at = Advance();
        return new UnaryExpression("not", ParseNot(), at.Line, at.Column);
    }

    private static readonly HashSet<string> ComparisonOperators = ["==", "!=", "<", ">", "<=", ">="];

    private Expression ParseCompare()
    {
        var left = ParseAdditive();
        Expression? chain = null;
        while (true)
        {
            var at = Current;
            string op;
            if (at.Kind == TokenKind.Operator && ComparisonOperators.Contains(at.Text)) { op = at.Text; _index++; }
            else if (at.IsName("in")) { op = "in"; _index++; }
            else if (at.IsName("not") && Peek().IsName("in")) { op = "not in"; _index += 2; }
            else return chain ?? left;
            // a < b < c means (a < b) and (b < c), as in Python
            var right = ParseAdditive();
            var comparison = new BinaryExpression(op, left, right, at.Line, at.Column);
            chain = chain is null ? comparison : new BinaryExpression("and", chain, comparison, at.Line, at.Column);
            left = right;
        }
    }

    private Expression ParseAdditive()
    {
        var left = ParseConcat();
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            var at = Advance();
            left = new BinaryExpression(at.Text, left, ParseConcat(), at.Line, at.Column);
        }
        return left;
    }

    private Expression ParseConcat()
    {
        var left = ParseMultiplicative();
        while (Current.IsOperator("~"))
        {
            var at = Advance();
            left = new BinaryExpression("~", left, ParseMultiplicative(), at.Line, at.Column);
        }
        return left;
    }

    private Expression ParseMultiplicative()
    {
        var left = ParsePower();
        while (Current.Kind == TokenKind.Operator && Current.Text is "*" or "/" or "//" or "%")
        {
            var at = Advance();
            left = new BinaryExpression(at.Text, left, ParsePower(), at.Line, at.Column);
        }
        return left;
    }

    private Expression ParsePower()
    {
        var left = ParseUnary(withFilters: true);
        while (Current.IsOperator("**"))
        {
            var at = Advance();
            left = new BinaryExpression("**", left, ParseUnary(withFilters: true), at.Line, at.Column);
        }
        return left;
    }

    private Expression ParseUnary(bool withFilters)
    {
        Expression value;
        if (Current.IsOperator("-") || Current.IsOperator("+"))
        {
            var at = Advance();
            value = new UnaryExpression(at.Text, ParseUnary(withFilters: false), at.Line, at.Column);
        }
        else
        {
            value = ParsePostfix(ParsePrimary());
        }
        return withFilters ? ParseFiltersAndTests(value) : value;
    }

    private Expression ParsePrimary()
    {
        var token = Advance();
        switch (token.Kind)
        {
            case TokenKind.Name:
                return token.Text switch
                {
                    "true" or "True" => new LiteralExpression(BoolValue.True, token.Line, token.Column),
                    "false" or "False" => new LiteralExpression(BoolValue.False, token.Line, token.Column),
                    "none" or "None" => new LiteralExpression(NoneValue.Instance, token.Line, token.Column),
                    _ => new NameExpression(token.Text, token.Line, token.Column),
                };
            case TokenKind.String:
                var text = token.Text;
                while (Current.Kind == TokenKind.String) text += Advance().Text; // 'a' 'b' is 'ab', as in Python
                return new LiteralExpression(new StringValue(text), token.Line, token.Column);
            case TokenKind.Integer:
                if (!long.TryParse(token.Text, NumberStyles.None, CultureInfo.InvariantCulture, out var integer))
                    throw Error(token, $"integer literal {token.Text} is too large");
                return new LiteralExpression(new IntValue(integer), token.Line, token.Column);
            case TokenKind.Float:
                return new LiteralExpression(new FloatValue(double.Parse(token.Text, CultureInfo.InvariantCulture)), token.Line, token.Column);
            case TokenKind.Operator when token.Text == "(":
                if (SkipOperator(")")) return new ListExpression([], token.Line, token.Column);
                var inner = ParseExpression();
                if (Current.IsOperator(","))
                {
                    var items = new List<Expression> { inner };
                    while (SkipOperator(",") && !Current.IsOperator(")")) items.Add(ParseExpression());
                    inner = new ListExpression(items, token.Line, token.Column);
                }
                Expect(TokenKind.Operator, ")", "')'");
                return inner;
            case TokenKind.Operator when token.Text == "[":
                var list = new List<Expression>();
                while (!SkipOperator("]"))
                {
                    if (list.Count > 0) Expect(TokenKind.Operator, ",", "',' or ']'");
                    if (SkipOperator("]")) break;
                    list.Add(ParseExpression());
                }
                return new ListExpression(list, token.Line, token.Column);
            case TokenKind.Operator when token.Text == "{":
                var entries = new List<(Expression, Expression)>();
                while (!SkipOperator("}"))
                {
                    if (entries.Count > 0) Expect(TokenKind.Operator, ",", "',' or '}'");
                    if (SkipOperator("}")) break;
                    var key = ParseExpression();
                    Expect(TokenKind.Operator, ":", "':' in a dict literal");
                    entries.Add((key, ParseExpression()));
                }
                return new DictExpression(entries, token.Line, token.Column);
            default:
                throw Error(token, $"expected an expression, found {token}");
        }
    }

    private Expression ParsePostfix(Expression value)
    {
        while (true)
        {
            var at = Current;
            if (SkipOperator("."))
            {
                var member = Advance();
                value = member.Kind switch
                {
                    TokenKind.Name => new AttributeExpression(value, member.Text, at.Line, at.Column),
                    TokenKind.Integer => new ItemExpression(value, new LiteralExpression(new IntValue(long.Parse(member.Text, CultureInfo.InvariantCulture)), member.Line, member.Column), at.Line, at.Column),
                    _ => throw Error(member, $"expected an attribute name after '.', found {member}"),
                };
            }
            else if (SkipOperator("["))
            {
                value = ParseSubscript(value, at);
            }
            else if (SkipOperator("("))
            {
                var (arguments, named) = ParseCallArguments();
                value = new CallExpression(value, arguments, named, at.Line, at.Column);
            }
            else
            {
                return value;
            }
        }
    }

    private Expression ParseSubscript(Expression target, Token at)
    {
        Expression? start = Current.IsOperator(":") ? null : ParseExpression();
        if (SkipOperator("]"))
            return new ItemExpression(target, start!, at.Line, at.Column);
        Expect(TokenKind.Operator, ":", "':' or ']' in a subscript");
        Expression? stop = Current.IsOperator(":") || Current.IsOperator("]") ? null : ParseExpression();
        Expression? step = null;
        if (SkipOperator(":") && !Current.IsOperator("]")) step = ParseExpression();
        Expect(TokenKind.Operator, "]", "']'");
        return new SliceExpression(target, start, stop, step, at.Line, at.Column);
    }

    /// <summary>After '(': positional and name=value arguments up to and including ')'.</summary>
    private (List<Expression>, List<(string, Expression)>) ParseCallArguments()
    {
        var arguments = new List<Expression>();
        var named = new List<(string, Expression)>();
        while (!SkipOperator(")"))
        {
            if (arguments.Count + named.Count > 0) Expect(TokenKind.Operator, ",", "',' or ')'");
            if (SkipOperator(")")) break;
            if (Current.IsOperator("*") || Current.IsOperator("**")) throw Error(Current, "unsupported: '*args' / '**kwargs' in a call");
            if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
            {
                var name = Advance().Text;
                _index++;
                named.Add((name, ParseExpression()));
            }
            else
            {
                if (named.Count > 0) throw Error(Current, "a positional argument follows a keyword argument");
                arguments.Add(ParseExpression());
            }
        }
        return (arguments, named);
    }

    private Expression ParseFiltersAndTests(Expression value)
    {
        while (true)
        {
            var at = Current;
            if (SkipOperator("|"))
            {
                var name = ExpectName("a filter name after '|'");
                CheckKnown(name, "filter", name.Text, _isKnownFilter(name.Text));
                var (arguments, named) = SkipOperator("(") ? ParseCallArguments() : ([], []);
                value = new FilterExpression(value, name.Text, arguments, named, name.Line, name.Column);
            }
            else if (SkipName("is"))
            {
                var negated = SkipName("not");
                var name = ExpectName("a test name after 'is'");
                CheckKnown(name, "test", name.Text, _isKnownTest(name.Text));
                List<Expression> arguments = [];
                if (SkipOperator("("))
                {
                    var (positional, named) = ParseCallArguments();
                    if (named.Count > 0) throw Error(name, $"test '{name.Text}' takes no keyword arguments");
                    arguments = positional;
                }
                else if (Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                         || Current.IsOperator("[") || Current.IsOperator("{"))
                {
                    // Jinja's one-argument form: 'x is divisibleby 3', 'x is sameas false' (but not 'x is defined and y').
                    if (!(Current.IsName("else") || Current.IsName("or") || Current.IsName("and")))
                        arguments = [ParsePostfix(ParsePrimary())];
                }
                value = new TestExpression(value, name.Text, arguments, negated, at.Line, at.Column);
            }
            else if (SkipOperator("("))
            {
                var (arguments, named) = ParseCallArguments();
                value = new CallExpression(value, arguments, named, at.Line, at.Column);
            }
            else
            {
                return value;
            }
        }
    }
}
