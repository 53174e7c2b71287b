namespace Cluster.Engine.Sampling.Json;

/// <summary>
/// A model's vocabulary as bytes, arranged for asking "which tokens can come next in this grammar's text": the tokens
/// sorted by their bytes, with each one's common prefix with the one before, so one pass (<see cref="Walk"/>) reads
/// every token through the grammar sharing the work of common prefixes (a trie walked in order, without the trie) and
/// skipping every token that starts with a prefix already refused. <see cref="GrammarMasks{TState, TGrammar}"/>
/// remembers the result per state; JSON mode's are <see cref="JsonObject"/>. Thread-safe; one per loaded vocabulary.
/// </summary>
public sealed class JsonTokenTable
{
    private readonly byte[][] _bytes;     // by token id; empty: never allowed (special tokens, ids without a token)
    private readonly int[] _order;        // token ids with bytes, sorted by their bytes
    private readonly int[] _commonPrefix; // _commonPrefix[k]: bytes token _order[k] shares with token _order[k - 1]
    private readonly int _longest;

    /// <param name="vocabularySize">The model's logits per step (may exceed the tokenizer's tokens).</param>
    /// <param name="bytesOf">
    /// The bytes a token adds to the text in the middle of a sequence; null or empty for a token that may never be
    /// generated under the constraint (special and control tokens, ids the tokenizer lacks).
    /// </param>
    public JsonTokenTable(int vocabularySize, Func<int, byte[]?> bytesOf)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vocabularySize, 1);
        ArgumentNullException.ThrowIfNull(bytesOf);
        VocabularySize = vocabularySize;
        _bytes = new byte[vocabularySize][];
        var withBytes = new List<int>();
        for (var id = 0; id < vocabularySize; id++)
        {
            _bytes[id] = bytesOf(id) ?? [];
            if (_bytes[id].Length > 0)
            {
                withBytes.Add(id);
            }
        }
        _order = [.. withBytes];
        Array.Sort(_order, (a, b) => _bytes[a].AsSpan().SequenceCompareTo(_bytes[b]));
        _commonPrefix = new int[_order.Length];
        for (var k = 1; k < _order.Length; k++)
        {
            _commonPrefix[k] = _bytes[_order[k]].AsSpan().CommonPrefixLength(_bytes[_order[k - 1]]);
        }
        _longest = withBytes.Count == 0 ? 0 : withBytes.Max(id => _bytes[id].Length);
        JsonObject = new(this, default);
    }

    /// <summary>JSON mode's masks over this vocabulary (one JSON object).</summary>
    public GrammarMasks<JsonPrefixState, JsonObjectGrammar> JsonObject { get; }

    public int VocabularySize { get; }

    /// <summary>The bytes token <paramref name="id"/> adds (empty: never allowed).</summary>
    public ReadOnlySpan<byte> BytesOf(int id) => _bytes[id];

    /// <summary>JSON mode's allowed tokens after <paramref name="state"/> (see <see cref="GrammarMasks{TState, TGrammar}.Allowed"/>).</summary>
    public ulong[] Allowed(JsonPrefixState state) => JsonObject.Allowed(state);

    /// <summary>
    /// One bit per token id (bit id % 64 of word id / 64), set when all of the token's bytes can follow
    /// <paramref name="start"/> in <paramref name="grammar"/>'s text: one pass over the sorted vocabulary.
    /// </summary>
    public ulong[] Walk<TState, TGrammar>(TGrammar grammar, TState start)
        where TState : struct, IEquatable<TState>
        where TGrammar : struct, IByteGrammar<TState>
    {
        var allowed = new ulong[(VocabularySize + 63) / 64];
        var states = new TState[_longest + 1]; // states[d]: after the first d bytes of the current token
        states[0] = start;
        var deadFrom = int.MaxValue; // the current run of tokens starts with a refused prefix of this many bytes
        for (var k = 0; k < _order.Length; k++)
        {
            var common = _commonPrefix[k];
            if (common >= deadFrom)
            {
                continue; // starts with the refused prefix too
            }
            // states[0..common] hold: the previous token (read or refused past them) shares these bytes.
            var id = _order[k];
            var bytes = _bytes[id];
            var state = states[common];
            var depth = common;
            for (; depth < bytes.Length; depth++)
            {
                if (!grammar.Feed(ref state, bytes[depth]))
                {
                    break;
                }
                states[depth + 1] = state;
            }
            if (depth == bytes.Length)
            {
                allowed[id >> 6] |= 1UL << (id & 63);
                deadFrom = int.MaxValue;
            }
            else
            {
                deadFrom = depth + 1;
            }
        }
        return allowed;
    }
}
