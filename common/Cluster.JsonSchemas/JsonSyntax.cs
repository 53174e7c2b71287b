namespace Cluster.JsonSchemas;

/// <summary>
/// JSON's own grammar as <see cref="ByteNfa"/> fragments, each call a fresh copy: strings (with or without a length in
/// characters), numbers, whitespace between tokens, the members of a map, and any value nested to a depth. What a
/// schema adds on top (declared properties, enums, references) is <see cref="SchemaCompiler"/>'s.
/// </summary>
internal sealed class JsonSyntax(ByteNfa nfa)
{
    private readonly ByteNfa _nfa = nfa;

    /// <summary>A map's members: <c>key WS : WS value WS</c>, separated by <c>, WS</c>, none or more.</summary>
    public Fragment Members(Func<Fragment> key, Func<Fragment> value) => _nfa.Separated(
        () => _nfa.Sequence(key(), Whitespace(), _nfa.Literal(":"u8), Whitespace(), value(), Whitespace()),
        () => _nfa.Sequence(_nfa.Literal(","u8), Whitespace()), min: 0, max: null);

    /// <summary>
    /// A JSON string. Without length limits its content is any run of bytes from 0x20 up but the quote and the
    /// backslash, and escapes (UTF-8 validity is the tokenizer's, as in JSON mode); with them it is counted in
    /// characters (code points), so each character is one UTF-8 sequence or one escape outside the surrogates.
    /// </summary>
    public Fragment String(int minLength, int? maxLength)
    {
        Func<Fragment> character = minLength == 0 && maxLength is null
            ? () => _nfa.Either([_nfa.OneOf((0x20, 0x21), (0x23, 0x5B), (0x5D, 0xFF)), Escape(surrogates: true)])
            : () => _nfa.Either([
                _nfa.OneOf((0x20, 0x21), (0x23, 0x5B), (0x5D, 0x7F)),
                _nfa.Sequence(_nfa.OneOf((0xC2, 0xDF)), Continuation()),
                _nfa.Sequence(_nfa.OneOf((0xE0, 0xEF)), Continuation(), Continuation()),
                _nfa.Sequence(_nfa.OneOf((0xF0, 0xF4)), Continuation(), Continuation(), Continuation()),
                Escape(surrogates: false)]);
        return _nfa.Sequence(_nfa.Literal("\""u8), _nfa.Separated(character, () => _nfa.Literal([]), minLength, maxLength), _nfa.Literal("\""u8));
    }

    private Fragment Continuation() => _nfa.OneOf((0x80, 0xBF));

    private Fragment Escape(bool surrogates)
    {
        var hex = () => _nfa.OneOf(('0', '9'), ('a', 'f'), ('A', 'F'));
        var unicode = surrogates
            ? _nfa.Sequence(_nfa.Literal("u"u8), hex(), hex(), hex(), hex())
            : _nfa.Sequence(_nfa.Literal("u"u8), _nfa.Either([
                _nfa.Sequence(_nfa.OneOf(('0', '9'), ('a', 'c'), ('A', 'C'), ('e', 'f'), ('E', 'F')), hex()),
                _nfa.Sequence(_nfa.OneOf(('d', 'd'), ('D', 'D')), _nfa.OneOf(('0', '7')))]), hex(), hex());
        var single = _nfa.OneOf(('"', '"'), ('\\', '\\'), ('/', '/'), ('b', 'b'),
            ('f', 'f'), ('n', 'n'), ('r', 'r'), ('t', 't'));
        return _nfa.Sequence(_nfa.Literal("\\"u8), _nfa.Either([single, unicode]));
    }

    private Fragment Digits() => _nfa.Sequence(_nfa.OneOf(('0', '9')), _nfa.Repeat(_nfa.OneOf(('0', '9'))));

    /// <summary>-?(0|[1-9][0-9]*)</summary>
    public Fragment Integer() => _nfa.Sequence(
        _nfa.Optional(_nfa.Literal("-"u8)),
        _nfa.Either([_nfa.Literal("0"u8), _nfa.Sequence(_nfa.OneOf(('1', '9')), _nfa.Repeat(_nfa.OneOf(('0', '9'))))]));

    /// <summary>An integer, then an optional fraction and exponent (RFC 8259's number).</summary>
    public Fragment Number() => _nfa.Sequence(
        Integer(),
        _nfa.Optional(_nfa.Sequence(_nfa.Literal("."u8), Digits())),
        _nfa.Optional(_nfa.Sequence(_nfa.OneOf(('e', 'e'), ('E', 'E')), _nfa.Optional(_nfa.OneOf(('+', '+'), ('-', '-'))), Digits())));

    /// <summary>Any JSON value, arrays and objects nested at most <paramref name="depth"/> levels.</summary>
    public Fragment AnyValue(int depth)
    {
        var choices = new List<Fragment>
        {
            String(minLength: 0, maxLength: null), Number(), _nfa.Literal("true"u8), _nfa.Literal("false"u8), _nfa.Literal("null"u8),
        };
        if (depth > 0)
        {
            choices.Add(_nfa.Sequence(_nfa.Literal("["u8), Whitespace(),
                _nfa.Separated(() => _nfa.Sequence(AnyValue(depth - 1), Whitespace()), () => _nfa.Sequence(_nfa.Literal(","u8), Whitespace()), 0, null),
                _nfa.Literal("]"u8)));
            choices.Add(_nfa.Sequence(_nfa.Literal("{"u8), Whitespace(),
                Members(() => String(minLength: 0, maxLength: null), () => AnyValue(depth - 1)),
                _nfa.Literal("}"u8)));
        }
        return _nfa.Either(choices);
    }

    /// <summary>
    /// Whitespace between tokens, as llama.cpp's json-schema-to-grammar allows it: none, one space, or one newline and
    /// up to <see cref="JsonSchemaLimits.MaxIndent"/> spaces or tabs of indentation. Compact and indented JSON both
    /// fit; a model drawn to whitespace (a weak or untuned one) cannot spend its tokens on blank lines.
    /// </summary>
    public Fragment Whitespace()
    {
        var start = _nfa.AddState();
        var end = _nfa.AddState();
        _nfa.Empty(start, end);
        _nfa.Edge(start, (byte)' ', (byte)' ', end);
        var at = _nfa.AddState();
        _nfa.Edge(start, (byte)'\n', (byte)'\n', at);
        for (var i = 0; i < JsonSchemaLimits.MaxIndent; i++)
        {
            _nfa.Empty(at, end);
            var next = _nfa.AddState();
            _nfa.Edge(at, (byte)' ', (byte)' ', next);
            _nfa.Edge(at, (byte)'\t', (byte)'\t', next);
            at = next;
        }
        _nfa.Empty(at, end);
        return new(start, end);
    }
}
