using System.Globalization;
using System.Text;

namespace Cluster.ChatTemplates.Syntax;

/// <summary>
/// Splits a template into text and tag tokens, applying whitespace control the way transformers' Jinja environment
/// does: <c>{%-</c>/<c>-%}</c> (and the same on <c>{{ }}</c> and <c>{# #}</c>) strip all whitespace on that side;
/// trim_blocks=True drops the first newline after a block or comment tag; lstrip_blocks=True drops the spaces and
/// tabs before a block or comment tag that starts its line (<c>{%+</c> and <c>+%}</c> opt out); and, as Jinja's
/// keep_trailing_newline=False, one newline at the very end of the template is dropped.
/// </summary>
internal sealed class Lexer
{
    private enum TagKind { Variable, Block, Comment }

    private sealed class Tag
    {
        public TagKind Kind;
        public bool TrimBefore, KeepBefore, TrimAfter, KeepAfter;
        public readonly List<Token> Tokens = [];
    }

    private readonly string _source;
    private readonly int[] _lineStarts;
    private int _pos;

    private Lexer(string source)
    {
        _source = source;
        var starts = new List<int> { 0 };
        for (var i = 0; i < source.Length; i++)
            if (source[i] == '\n') starts.Add(i + 1);
        _lineStarts = [.. starts];
    }

    public static List<Token> Tokenize(string source)
    {
        // Jinja normalizes newlines to "\n" and, by default, drops a single trailing newline.
        source = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (source.EndsWith('\n')) source = source[..^1];
        return new Lexer(source).Run();
    }

    private List<Token> Run()
    {
        // Pieces alternate freely between text (string, with its offset) and tags; whitespace control needs both neighbours.
        var pieces = new List<object>();
        var textOffsets = new Dictionary<int, int>();
        while (_pos < _source.Length)
        {
            var open = FindTagOpen(_pos);
            if (open > _pos || open < 0)
            {
                var end = open < 0 ? _source.Length : open;
                textOffsets[pieces.Count] = _pos;
                pieces.Add(_source[_pos..end]);
                _pos = end;
                if (open < 0) break;
            }
            pieces.Add(ReadTag());
        }

        var tokens = new List<Token>();
        for (var i = 0; i < pieces.Count; i++)
        {
            if (pieces[i] is string text)
            {
                text = ApplyWhitespaceControl(text, i > 0 ? (Tag)pieces[i - 1] : null, i + 1 < pieces.Count ? (Tag)pieces[i + 1] : null);
                if (text.Length > 0)
                {
                    var (line, column) = Position(textOffsets[i]);
                    tokens.Add(new Token(TokenKind.Text, text, line, column));
                }
            }
            else
            {
                tokens.AddRange(((Tag)pieces[i]).Tokens);
            }
        }
        tokens.Add(new Token(TokenKind.EndOfTemplate, "", Position(_source.Length).Line, Position(_source.Length).Column));
        return tokens;
    }

    private static string ApplyWhitespaceControl(string text, Tag? before, Tag? after)
    {
        // Jinja tracks whether the text starts a line (template start, or the previous tag's match ended with a newline).
        var lineStarting = before is null;
        if (before is not null)
        {
            if (before.TrimAfter)
            {
                var trimmed = text.TrimStart();
                lineStarting = text.Length > trimmed.Length && text[text.Length - trimmed.Length - 1] == '\n';
                text = trimmed;
            }
            else if (before.Kind != TagKind.Variable && !before.KeepAfter && text.StartsWith('\n'))
            {
                text = text[1..]; // trim_blocks
                lineStarting = true;
            }
        }
        if (after is not null)
        {
            if (after.TrimBefore)
                text = text.TrimEnd();
            else if (after.Kind != TagKind.Variable && !after.KeepBefore)
            {
                // lstrip_blocks: only whitespace between the line's start and the tag goes.
                var lineStart = text.LastIndexOf('\n') + 1;
                if ((lineStart > 0 || lineStarting) && lineStart < text.Length && text.AsSpan(lineStart).IsWhiteSpace())
                    text = text[..lineStart];
            }
        }
        return text;
    }

    private int FindTagOpen(int from)
    {
        for (var i = _source.IndexOf('{', from); i >= 0 && i + 1 < _source.Length; i = _source.IndexOf('{', i + 1))
            if (_source[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    private Tag ReadTag()
    {
        var (line, column) = Position(_pos);
        var opener = _source.Substring(_pos, 2);
        var tag = new Tag { Kind = opener[1] switch { '{' => TagKind.Variable, '%' => TagKind.Block, _ => TagKind.Comment } };
        _pos += 2;
        if (_pos < _source.Length && _source[_pos] == '-') { tag.TrimBefore = true; _pos++; }
        else if (_pos < _source.Length && _source[_pos] == '+' && tag.Kind != TagKind.Variable) { tag.KeepBefore = true; _pos++; }

        if (tag.Kind == TagKind.Comment)
        {
            var close = _source.IndexOf("#}", _pos, StringComparison.Ordinal);
            if (close < 0) throw new ChatTemplateException("unclosed comment '{#'", line, column);
            if (close > _pos && _source[close - 1] == '-') tag.TrimAfter = true;
            else if (close > _pos && _source[close - 1] == '+') tag.KeepAfter = true;
            _pos = close + 2;
            return tag;
        }

        tag.Tokens.Add(new Token(tag.Kind == TagKind.Variable ? TokenKind.VariableBegin : TokenKind.BlockBegin, opener, line, column));
        var closer = tag.Kind == TagKind.Variable ? "}}" : "%}";
        var depth = 0; // a '}}' inside an open bracket closes a dict literal, not the tag
        while (true)
        {
            while (_pos < _source.Length && char.IsWhiteSpace(_source[_pos])) _pos++;
            if (_pos >= _source.Length)
                throw new ChatTemplateException($"unclosed tag '{opener}': no '{closer}' before the end of the template", line, column);
            var (tokenLine, tokenColumn) = Position(_pos);
            if (depth == 0 || tag.Kind == TagKind.Block)
            {
                var marker = At("-" + closer) ? '-' : At("+" + closer) && tag.Kind == TagKind.Block ? '+' : ' ';
                if (marker != ' ' || At(closer))
                {
                    tag.TrimAfter = marker == '-';
                    tag.KeepAfter = marker == '+';
                    _pos += marker == ' ' ? 2 : 3;
                    tag.Tokens.Add(new Token(tag.Kind == TagKind.Variable ? TokenKind.VariableEnd : TokenKind.BlockEnd, closer, tokenLine, tokenColumn));
                    break;
                }
            }
            var token = ReadToken(tokenLine, tokenColumn);
            if (token.Kind == TokenKind.Operator)
                depth += token.Text is "(" or "[" or "{" ? 1 : token.Text is ")" or "]" or "}" ? -1 : 0;
            tag.Tokens.Add(token);
        }
        if (tag.Kind == TagKind.Block && tag.Tokens.Count > 1 && tag.Tokens[1].IsName("raw"))
            throw new ChatTemplateException("unsupported statement '{% raw %}'", line, column);
        return tag;
    }

    private bool At(string text) => string.CompareOrdinal(_source, _pos, text, 0, text.Length) == 0;

    private static readonly string[] Operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    private Token ReadToken(int line, int column)
    {
        var c = _source[_pos];
        var start = _pos;
        if (char.IsAsciiLetter(c) || c == '_')
        {
            while (_pos < _source.Length && (char.IsAsciiLetterOrDigit(_source[_pos]) || _source[_pos] == '_')) _pos++;
            return new Token(TokenKind.Name, _source[start.._pos], line, column);
        }
        if (char.IsAsciiDigit(c)) return ReadNumber(line, column);
        if (c is '\'' or '"') return new Token(TokenKind.String, ReadString(c, line, column), line, column);
        foreach (var op in Operators)
        {
            if (At(op))
            {
                _pos += op.Length;
                return new Token(TokenKind.Operator, op, line, column);
            }
        }
        throw new ChatTemplateException($"unexpected character '{c}' inside a tag", line, column);
    }

    private Token ReadNumber(int line, int column)
    {
        var start = _pos;
        var isFloat = false;
        SkipDigits();
        if (_pos + 1 < _source.Length && _source[_pos] == '.' && char.IsAsciiDigit(_source[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            SkipDigits();
        }
        if (_pos < _source.Length && _source[_pos] is 'e' or 'E')
        {
            var save = _pos++;
            if (_pos < _source.Length && _source[_pos] is '+' or '-') _pos++;
            if (_pos < _source.Length && char.IsAsciiDigit(_source[_pos])) { isFloat = true; SkipDigits(); }
            else _pos = save;
        }
        var text = _source[start.._pos].Replace("_", "");
        return new Token(isFloat ? TokenKind.Float : TokenKind.Integer, text, line, column);
    }

    private void SkipDigits()
    {
        while (_pos < _source.Length && (char.IsAsciiDigit(_source[_pos]) || _source[_pos] == '_')) _pos++;
    }

    /// <summary>A Python string literal: Jinja decodes it with Python's unicode-escape, so unknown escapes keep their backslash.</summary>
    private string ReadString(char quote, int line, int column)
    {
        var sb = new StringBuilder();
        _pos++;
        while (true)
        {
            if (_pos >= _source.Length) throw new ChatTemplateException("unterminated string literal", line, column);
            var c = _source[_pos++];
            if (c == quote) return sb.ToString();
            if (c != '\\' || _pos >= _source.Length) { sb.Append(c); continue; }
            var e = _source[_pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case '\n': break; // a backslash-newline continues the line
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'v': sb.Append('\v'); break;
                case 'x': sb.Append(ReadHexEscape(2, line, column)); break;
                case 'u': sb.Append(ReadHexEscape(4, line, column)); break;
                case 'U': sb.Append(ReadHexEscape(8, line, column)); break;
                default: sb.Append('\\').Append(e); break;
            }
        }
    }

    private string ReadHexEscape(int digits, int line, int column)
    {
        if (_pos + digits > _source.Length ||
            !int.TryParse(_source.AsSpan(_pos, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
            throw new ChatTemplateException($"bad \\{(digits == 2 ? 'x' : digits == 4 ? 'u' : 'U')} escape in a string literal", line, column);
        _pos += digits;
        return char.ConvertFromUtf32(code);
    }

    private (int Line, int Column) Position(int offset)
    {
        var index = Array.BinarySearch(_lineStarts, offset);
        if (index < 0) index = ~index - 1;
        return (index + 1, offset - _lineStarts[index] + 1);
    }
}
