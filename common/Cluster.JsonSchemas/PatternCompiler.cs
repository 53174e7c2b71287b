using System.Globalization;

namespace Cluster.JsonSchemas;

/// <summary>
/// A JSON Schema <c>pattern</c> (an ECMAScript regular expression) compiled into a <see cref="ByteNfa"/> fragment that
/// accepts the contents of the JSON strings (between the quotes, escaped as JSON requires) whose text it matches. As
/// JSON Schema defines <c>pattern</c>, a match may start and end anywhere unless the pattern anchors it with ^ and $.
/// <see cref="CompileWhole"/> compiles the same language for a whole output instead: raw UTF-8, one match end to end.
/// </summary>
/// <remarks>
/// Supported: literals, '.', classes ([a-z], [^"], \d \w \s and their negations), escapes (\t \n \r \f \v \0 \xHH
/// \uHHHH and escaped syntax characters), groups ((...), (?:...)), alternation, the quantifiers * + ? {n} {n,} {n,m}
/// (a lazy ? after them changes nothing here), and ^ and $ at the start and end of the pattern's alternatives.
/// Refused, with the position: lookarounds, backreferences, word boundaries, named groups, anchors elsewhere.
/// Characters a JSON string must escape (the quote, the backslash, controls) are written escaped, each in the one
/// form System.Text.Json writes (\", \\, \n, \u001F, ...).
/// </remarks>
internal sealed class PatternCompiler
{
    /// <summary>The largest count a {n,m} quantifier may give (each counted item is a copy in the automaton).</summary>
    public const int MaxRepeat = 1000;

    private readonly ByteNfa _nfa;
    private readonly string _pattern;
    private readonly string _pointer;
    private int _at;

    private readonly bool _inJsonString;
    private readonly bool _whole;

    private PatternCompiler(ByteNfa nfa, string pattern, string pointer, bool inJsonString, bool whole)
    {
        _nfa = nfa;
        _pattern = pattern;
        _pointer = pointer;
        _inJsonString = inJsonString;
        _whole = whole;
    }

    /// <summary>The JSON string contents whose text <paramref name="pattern"/> matches somewhere (JSON Schema's <c>pattern</c>).</summary>
    /// <exception cref="JsonSchemaException">What the pattern uses is not supported, or it is malformed.</exception>
    public static Fragment Compile(ByteNfa nfa, string pattern, string pointer) => new PatternCompiler(nfa, pattern, pointer, inJsonString: true, whole: false).Top();

    /// <summary>Raw UTF-8 texts that are one match of <paramref name="pattern"/> from start to end (a whole output).</summary>
    /// <exception cref="JsonSchemaException">What the pattern uses is not supported, or it is malformed.</exception>
    public static Fragment CompileWhole(ByteNfa nfa, string pattern) => new PatternCompiler(nfa, pattern, "", inJsonString: false, whole: true).Top();

    // The parsed pattern: built into fragments as it is read, except that each alternative's anchors decide whether
    // any text may come before and after it.
    private abstract record Node;

    private sealed record Chars(CodePointSet Set) : Node;

    private sealed record Sequence(List<Node> Items) : Node;

    private sealed record Alternatives(List<Node> Choices) : Node;

    private sealed record Repeat(Node Item, int Min, int? Max) : Node;

    private sealed record Anchor(bool Start) : Node;

    private Fragment Top()
    {
        var parsed = ParseAlternatives();
        if (_at < _pattern.Length)
        {
            throw Error(_at, $"unbalanced ')'");
        }
        var choices = parsed is Alternatives alternatives ? alternatives.Choices : [parsed];
        return _nfa.Either([.. choices.Select(choice =>
        {
            var items = choice is Sequence sequence ? new List<Node>(sequence.Items) : [choice];
            var anchoredStart = items.Count > 0 && items[0] is Anchor { Start: true };
            var anchoredEnd = items.Count > 0 && items[^1] is Anchor { Start: false };
            if (anchoredStart)
            {
                items.RemoveAt(0);
            }
            if (anchoredEnd && items.Count > 0)
            {
                items.RemoveAt(items.Count - 1);
            }
            var parts = new List<Fragment>();
            if (!anchoredStart && !_whole)
            {
                parts.Add(AnyText());
            }
            parts.AddRange(items.Select(Build));
            if (!anchoredEnd && !_whole)
            {
                parts.Add(AnyText());
            }
            return parts.Count == 0 ? _nfa.Literal([]) : _nfa.Sequence([.. parts]);
        })]);
    }

    private Fragment AnyText() => _nfa.Repeat(Character(CodePointSet.Of((0, CodePointSet.MaxCodePoint))));

    private Fragment Build(Node node) => node switch
    {
        Chars chars => Character(chars.Set),
        Sequence sequence => sequence.Items.Count == 0 ? _nfa.Literal([]) : _nfa.Sequence([.. sequence.Items.Select(Build)]),
        Alternatives alternatives => _nfa.Either([.. alternatives.Choices.Select(Build)]),
        Repeat repeat => _nfa.Separated(() => Build(repeat.Item), () => _nfa.Literal([]), repeat.Min, repeat.Max),
        Anchor => throw new JsonSchemaException(_pointer, $"the pattern \"{_pattern}\" has ^ or $ inside it; they are supported only at the start and end of its alternatives"),
        _ => throw new InvalidOperationException(node.ToString()),
    };

    private Node ParseAlternatives()
    {
        var choices = new List<Node> { ParseSequence() };
        while (_at < _pattern.Length && _pattern[_at] == '|')
        {
            _at++;
            choices.Add(ParseSequence());
        }
        return choices.Count == 1 ? choices[0] : new Alternatives(choices);
    }

    private Node ParseSequence()
    {
        var items = new List<Node>();
        while (_at < _pattern.Length && _pattern[_at] is not ('|' or ')'))
        {
            var start = _at;
            var atom = ParseAtom();
            items.Add(ParseQuantifier(atom, start));
        }
        return new Sequence(items);
    }

    private Node ParseQuantifier(Node atom, int start)
    {
        if (_at >= _pattern.Length)
        {
            return atom;
        }
        var brace = _pattern[_at] == '{';
        (int Min, int? Max)? bounds = _pattern[_at] switch
        {
            '*' => (0, null),
            '+' => (1, null),
            '?' => (0, 1),
            '{' => Braces(),
            _ => null,
        };
        if (bounds is not { } given)
        {
            return atom;
        }
        var (min, max) = given;
        if (!brace)
        {
            _at++; // Braces consumed its own
        }
        if (atom is Anchor)
        {
            throw Error(start, "a quantifier after an anchor");
        }
        if (_at < _pattern.Length && _pattern[_at] == '?')
        {
            _at++; // lazy: the same strings match
        }
        if (_at < _pattern.Length && (_pattern[_at] is '*' or '+' or '?' || Braces(peek: true) is not null))
        {
            throw Error(_at, "a quantifier after a quantifier");
        }
        return new Repeat(atom, min, max);
    }

    /// <summary>{n}, {n,} or {n,m} at the position (consumed unless peeking); null when the brace is a literal.</summary>
    private (int, int?)? Braces(bool peek = false)
    {
        if (_at >= _pattern.Length || _pattern[_at] != '{')
        {
            return null;
        }
        var close = _pattern.IndexOf('}', _at);
        if (close < 0)
        {
            return null;
        }
        var inside = _pattern[(_at + 1)..close].Split(',');
        if (inside.Length > 2 || !int.TryParse(inside[0], NumberStyles.None, CultureInfo.InvariantCulture, out var min))
        {
            return null;
        }
        int? max = inside.Length == 1 ? min : inside[1].Length == 0 ? null
            : int.TryParse(inside[1], NumberStyles.None, CultureInfo.InvariantCulture, out var upper) ? upper : -1;
        if (max == -1)
        {
            return null;
        }
        if (max < min || min > MaxRepeat || max > MaxRepeat)
        {
            throw Error(_at, $"the quantifier {_pattern[_at..(close + 1)]} must have counts in order and at most {MaxRepeat}");
        }
        if (!peek)
        {
            _at = close + 1;
        }
        return (min, max);
    }

    private Node ParseAtom()
    {
        var c = _pattern[_at];
        switch (c)
        {
            case '(':
                var open = _at++;
                if (_pattern.AsSpan(_at).StartsWith("?:"))
                {
                    _at += 2;
                }
                else if (_at < _pattern.Length && _pattern[_at] == '?')
                {
                    throw Error(open, "lookarounds and named groups are not supported (only (...) and (?:...))");
                }
                var inside = ParseAlternatives();
                if (_at >= _pattern.Length || _pattern[_at] != ')')
                {
                    throw Error(open, "unbalanced '('");
                }
                _at++;
                return inside;
            case '[':
                return new Chars(ParseClass());
            case '.':
                _at++;
                return new Chars(CodePointSet.AnyButNewline);
            case '^' or '$':
                _at++;
                return new Anchor(c == '^');
            case '\\':
                return new Chars(ParseEscape(inClass: false));
            case '*' or '+' or '?':
                throw Error(_at, $"'{c}' has nothing to repeat");
            default:
                var codePoint = char.ConvertToUtf32(_pattern, _at);
                _at += char.IsSurrogatePair(_pattern, _at) ? 2 : 1;
                return new Chars(CodePointSet.Single(codePoint));
        }
    }

    private CodePointSet ParseClass()
    {
        var open = _at++;
        var negated = _at < _pattern.Length && _pattern[_at] == '^';
        if (negated)
        {
            _at++;
        }
        var set = CodePointSet.Of();
        var first = true;
        while (true)
        {
            if (_at >= _pattern.Length)
            {
                throw Error(open, "unterminated character class");
            }
            if (_pattern[_at] == ']' && !first)
            {
                _at++;
                break;
            }
            first = false;
            var low = ClassMember();
            if (_at + 1 < _pattern.Length && _pattern[_at] == '-' && _pattern[_at + 1] != ']')
            {
                _at++;
                var high = ClassMember();
                if (low.Ranges.Count != 1 || high.Ranges.Count != 1 || low.Ranges[0].Low != low.Ranges[0].High || high.Ranges[0].Low != high.Ranges[0].High
                    || high.Ranges[0].Low < low.Ranges[0].Low)
                {
                    throw Error(open, "a class range must go from one character up to another");
                }
                set = set.Union(CodePointSet.Of((low.Ranges[0].Low, high.Ranges[0].Low)));
            }
            else
            {
                set = set.Union(low);
            }
        }
        return negated ? set.Complement() : set;
    }

    private CodePointSet ClassMember()
    {
        if (_pattern[_at] == '\\')
        {
            return ParseEscape(inClass: true);
        }
        var codePoint = char.ConvertToUtf32(_pattern, _at);
        _at += char.IsSurrogatePair(_pattern, _at) ? 2 : 1;
        return CodePointSet.Single(codePoint);
    }

    private CodePointSet ParseEscape(bool inClass)
    {
        var start = _at++;
        if (_at >= _pattern.Length)
        {
            throw Error(start, "a pattern cannot end with '\\'");
        }
        var c = _pattern[_at++];
        switch (c)
        {
            case 'd': return CodePointSet.Digits;
            case 'D': return CodePointSet.Digits.Complement();
            case 'w': return CodePointSet.Word;
            case 'W': return CodePointSet.Word.Complement();
            case 's': return CodePointSet.Space;
            case 'S': return CodePointSet.Space.Complement();
            case 't': return CodePointSet.Single('\t');
            case 'n': return CodePointSet.Single('\n');
            case 'r': return CodePointSet.Single('\r');
            case 'f': return CodePointSet.Single('\f');
            case 'v': return CodePointSet.Single('\v');
            case '0': return CodePointSet.Single(0);
            case 'b' when inClass: return CodePointSet.Single('\b');
            case 'x': return CodePointSet.Single(Hex(2, start));
            case 'u': return CodePointSet.Single(Hex(4, start));
            case 'b' or 'B':
                throw Error(start, "word boundaries (\\b, \\B) are not supported");
            case >= '1' and <= '9':
                throw Error(start, "backreferences are not supported");
            default:
                if (char.IsAsciiLetterOrDigit(c))
                {
                    throw Error(start, $"the escape \\{c} is not supported");
                }
                return CodePointSet.Single(c); // an escaped syntax character or punctuation
        }
    }

    private int Hex(int digits, int start)
    {
        if (_at + digits > _pattern.Length || !int.TryParse(_pattern.AsSpan(_at, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
        {
            throw Error(start, $"the escape needs {digits} hex digits");
        }
        _at += digits;
        return value;
    }

    /// <summary>One character of <paramref name="set"/> as the text holds it: UTF-8, and inside a JSON string escaped where JSON must.</summary>
    private Fragment Character(CodePointSet set)
    {
        var mustEscape = _inJsonString ? CodePointSet.Of((0, 0x1F), ('"', '"'), ('\\', '\\')) : CodePointSet.Of();
        var choices = new List<Fragment>();
        foreach (var (low, high) in set.Without(mustEscape).Ranges)
        {
            foreach (var sequence in Utf8.Sequences(low, high))
            {
                choices.Add(_nfa.Sequence([.. sequence.Select(range => _nfa.OneOf(range))]));
            }
        }
        for (var c = 0; c <= '\\' && _inJsonString; c++)
        {
            if ((c < 0x20 || c is '"' or '\\') && set.Contains(c))
            {
                choices.Add(_nfa.Literal(System.Text.Encoding.ASCII.GetBytes(Escaped(c))));
            }
        }
        return choices.Count > 0 ? _nfa.Either(choices) : _nfa.Never();
    }

    private static string Escaped(int c) => c switch
    {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\b' => "\\b",
        '\f' => "\\f",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        _ => $"\\u{c:X4}",
    };

    private JsonSchemaException Error(int position, string problem) =>
        new(_pointer, $"the pattern \"{_pattern}\" at character {position}: {problem}");
}
