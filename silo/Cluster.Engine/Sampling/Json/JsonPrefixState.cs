namespace Cluster.Engine.Sampling.Json;

/// <summary>
/// Where a byte-by-byte reading of a JSON object (RFC 8259, UTF-8) stands: a small value type, so a search can copy it
/// at every step and go back to any earlier one. <see cref="Feed"/> says whether a byte can continue a text that is
/// still the beginning of one JSON object (which starts at the first byte: no whitespace before it, none after);
/// <see cref="IsComplete"/> whether the object has closed. Nesting is a bit stack (object or array per level), up to
/// <see cref="MaxDepth"/> levels. A run of whitespace is at most <see cref="MaxWhitespaceRun"/> bytes: JSON allows any, but a model held to JSON could
/// otherwise pad forever (OpenAI warns of exactly that in its JSON mode) instead of closing the object.
/// </summary>
/// <remarks>
/// Strings take any byte from 0x20 up except the quote and the backslash (so UTF-8 sequences pass byte by byte; their
/// validity is the tokenizer's), escapes are the eight single-character ones and \u with four hex digits. Numbers follow
/// the grammar's -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; a number ends at the first byte that cannot continue it,
/// which is then read as what follows the value.
/// </remarks>
public struct JsonPrefixState : IEquatable<JsonPrefixState>
{
    /// <summary>The deepest nesting of objects and arrays accepted (the top-level object is level 1).</summary>
    public const int MaxDepth = 32;

    /// <summary>The longest run of whitespace bytes accepted between tokens of the JSON text.</summary>
    public const int MaxWhitespaceRun = 32;

    private enum Mode : byte
    {
        Start,        // before the top-level object: '{' only (the output starts with the object, as OpenAI's JSON mode answers)
        ObjectStart,  // after '{': a key's '"' or '}'
        Key,          // after ',' in an object: a key's '"'
        Colon,        // after a key: ':'
        Value,        // after ':' or ',' in an array: any value
        ArrayStart,   // after '[': any value or ']'
        AfterValue,   // after a value in a container: ',' or the container's closing bracket
        InString,     // inside a string (a key's when InKey)
        Escape,       // after '\' in a string
        Unicode,      // in \uXXXX, Count hex digits read
        Minus,        // a number's '-'
        Zero,         // a number's leading 0
        Integer,      // a number's integer digits after the first nonzero
        Dot,          // a number's '.'
        Fraction,     // a number's fraction digits
        Exponent,     // a number's 'e' or 'E'
        ExponentSign, // a number's exponent sign
        ExponentDigits,
        Literal,      // inside true, false or null: Literal, Count bytes read
        Complete,     // the top-level object has closed
    }

    private static readonly byte[][] Literals = ["true"u8.ToArray(), "false"u8.ToArray(), "null"u8.ToArray()];

    private ulong _stack;  // bit d: level d + 1 is an object (1) or an array (0)
    private byte _depth;
    private Mode _mode;
    private bool _inKey;
    private byte _count;   // hex digits read, or literal bytes read
    private byte _literal; // which literal
    private byte _whitespace;

    /// <summary>The object has closed: nothing more may follow (not even whitespace).</summary>
    public readonly bool IsComplete => _mode == Mode.Complete;

    /// <summary>Reads one byte; false (and the state unchanged) when no JSON object's text can continue with it.</summary>
    public bool Feed(byte b)
    {
        var next = this;
        if (!next.Step(b))
        {
            return false;
        }
        this = next;
        return true;
    }

    /// <summary>Reads every byte of <paramref name="bytes"/>; false (and the state unchanged) when one cannot follow.</summary>
    public bool Feed(ReadOnlySpan<byte> bytes)
    {
        var next = this;
        foreach (var b in bytes)
        {
            if (!next.Step(b))
            {
                return false;
            }
        }
        this = next;
        return true;
    }

    private bool Step(byte b)
    {
        switch (_mode)
        {
            case Mode.Start:
                return b == (byte)'{' && Open(object_: true);
            case Mode.ObjectStart:
                return Whitespace(b) || (b == (byte)'"' && BeginString(key: true)) || (b == (byte)'}' && Close());
            case Mode.Key:
                return Whitespace(b) || (b == (byte)'"' && BeginString(key: true));
            case Mode.Colon:
                return Whitespace(b) || (b == (byte)':' && To(Mode.Value));
            case Mode.Value:
                return Whitespace(b) || BeginValue(b);
            case Mode.ArrayStart:
                return Whitespace(b) || (b == (byte)']' && Close()) || BeginValue(b);
            case Mode.AfterValue:
                return Whitespace(b) || AfterValue(b);
            case Mode.InString:
                if (b == (byte)'"')
                {
                    return _inKey ? To(Mode.Colon) : To(Mode.AfterValue);
                }
                if (b == (byte)'\\')
                {
                    return To(Mode.Escape);
                }
                return b >= 0x20;
            case Mode.Escape:
                if (b == (byte)'u')
                {
                    _count = 0;
                    return To(Mode.Unicode);
                }
                return b is (byte)'"' or (byte)'\\' or (byte)'/' or (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t' && To(Mode.InString);
            case Mode.Unicode:
                if (!Uri.IsHexDigit((char)b))
                {
                    return false;
                }
                return ++_count < 4 || To(Mode.InString);
            case Mode.Minus:
                return b == (byte)'0' ? To(Mode.Zero) : IsDigit(b) && To(Mode.Integer);
            case Mode.Zero:
                return b == (byte)'.' ? To(Mode.Dot) : (b is (byte)'e' or (byte)'E') ? To(Mode.Exponent) : EndNumber(b);
            case Mode.Integer:
                return IsDigit(b) || (b == (byte)'.' ? To(Mode.Dot) : (b is (byte)'e' or (byte)'E') ? To(Mode.Exponent) : EndNumber(b));
            case Mode.Dot:
                return IsDigit(b) && To(Mode.Fraction);
            case Mode.Fraction:
                return IsDigit(b) || ((b is (byte)'e' or (byte)'E') ? To(Mode.Exponent) : EndNumber(b));
            case Mode.Exponent:
                return (b is (byte)'+' or (byte)'-') ? To(Mode.ExponentSign) : IsDigit(b) && To(Mode.ExponentDigits);
            case Mode.ExponentSign:
                return IsDigit(b) && To(Mode.ExponentDigits);
            case Mode.ExponentDigits:
                return IsDigit(b) || EndNumber(b);
            case Mode.Literal:
                var literal = Literals[_literal];
                if (b != literal[_count])
                {
                    return false;
                }
                return ++_count < literal.Length || To(Mode.AfterValue);
            default: // Complete
                return false;
        }
    }

    private bool Whitespace(byte b)
    {
        if (b is not ((byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r'))
        {
            return false;
        }
        return ++_whitespace <= MaxWhitespaceRun;
    }

    private bool To(Mode mode)
    {
        _mode = mode;
        _whitespace = 0;
        return true;
    }

    private static bool IsDigit(byte b) => b is >= (byte)'0' and <= (byte)'9';

    private bool BeginString(bool key)
    {
        _inKey = key;
        return To(Mode.InString);
    }

    private bool BeginValue(byte b)
    {
        switch (b)
        {
            case (byte)'{':
                return Open(object_: true);
            case (byte)'[':
                return Open(object_: false);
            case (byte)'"':
                return BeginString(key: false);
            case (byte)'-':
                return To(Mode.Minus);
            case (byte)'0':
                return To(Mode.Zero);
            case >= (byte)'1' and <= (byte)'9':
                return To(Mode.Integer);
            case (byte)'t' or (byte)'f' or (byte)'n':
                _literal = b == (byte)'t' ? (byte)0 : b == (byte)'f' ? (byte)1 : (byte)2;
                _count = 1;
                return To(Mode.Literal);
            default:
                return false;
        }
    }

    /// <summary>A number ended before <paramref name="b"/>: read it as what follows the value.</summary>
    private bool EndNumber(byte b)
    {
        To(Mode.AfterValue);
        return Whitespace(b) || AfterValue(b);
    }

    private bool AfterValue(byte b)
    {
        var inObject = (_stack >> (_depth - 1) & 1) == 1;
        return b switch
        {
            (byte)',' => To(inObject ? Mode.Key : Mode.Value),
            (byte)'}' => inObject && Close(),
            (byte)']' => !inObject && Close(),
            _ => false,
        };
    }

    private bool Open(bool object_)
    {
        if (_depth == MaxDepth)
        {
            return false;
        }
        _stack = object_ ? _stack | 1UL << _depth : _stack & ~(1UL << _depth);
        _depth++;
        return To(object_ ? Mode.ObjectStart : Mode.ArrayStart);
    }

    private bool Close()
    {
        _depth--;
        _stack &= ~(1UL << _depth);
        return To(_depth == 0 ? Mode.Complete : Mode.AfterValue);
    }

    public readonly bool Equals(JsonPrefixState other) =>
        _stack == other._stack && _depth == other._depth && _mode == other._mode && _inKey == other._inKey
        && _count == other._count && _literal == other._literal && _whitespace == other._whitespace;

    public override readonly bool Equals(object? obj) => obj is JsonPrefixState other && Equals(other);

    public override readonly int GetHashCode() => HashCode.Combine(_stack, _depth, _mode, _inKey, _count, _literal, _whitespace);
}
