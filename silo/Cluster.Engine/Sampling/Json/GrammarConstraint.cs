namespace Cluster.Engine.Sampling.Json;

/// <summary>
/// Holds one request's output to a grammar's text: every step, tokens whose bytes cannot continue the text generated so
/// far get a logit of -inf; the end tokens (EOS) stay only where the text is complete, and once nothing can follow
/// they are all that remains (also in the unlikely state where no token of the vocabulary continues the text: a
/// vocabulary without a byte the grammar needs next), so the request ends instead of failing the step it shares with
/// others. The state follows the request's output, read from the history the sampler is given (its last
/// <see cref="TokenSampler.Steps"/> tokens), so a sampler rebuilt after a failover picks up where the lost one was.
/// </summary>
/// <param name="masks">The vocabulary's allowed tokens per state of the grammar.</param>
/// <param name="endTokenIds">The tokens that end the request (EOS): allowed only where the text is complete.</param>
public class GrammarConstraint<TState, TGrammar>(GrammarMasks<TState, TGrammar> masks, IReadOnlyList<int> endTokenIds) : IOutputConstraint
    where TState : struct, IEquatable<TState>
    where TGrammar : struct, IByteGrammar<TState>
{
    // The end tokens the logits have (a model's vocabulary may have fewer rows than its config names): few, so an array.
    private readonly int[] _end = [.. endTokenIds.Distinct().Where(id => (uint)id < (uint)masks.Table.VocabularySize)];
    private TState _state = masks.Grammar.Start;
    private int _read; // generated tokens already read into _state

    /// <exception cref="InvalidOperationException">A generated token does not continue the text: the output did not come from this constraint.</exception>
    public void Apply(Span<float> logits, IReadOnlyList<int> history, int generated)
    {
        var table = masks.Table;
        var grammar = masks.Grammar;
        if (logits.Length != table.VocabularySize)
        {
            throw new ArgumentException($"The constraint's table has {table.VocabularySize} tokens; the step has {logits.Length} logits.", nameof(logits));
        }
        if (generated < _read)
        {
            // The history was rewound (a replayed request): read it again from its start.
            (_state, _read) = (grammar.Start, 0);
        }
        for (var i = history.Count - generated + _read; i < history.Count; i++, _read++)
        {
            var id = history[i];
            if (grammar.CanEnd(_state) && _end.Contains(id))
            {
                continue;
            }
            if ((uint)id >= (uint)table.VocabularySize || !Feed(grammar, table.BytesOf(id)))
            {
                throw new InvalidOperationException($"Generated token {id} at position {i} does not continue the constrained output; it cannot resume from this output.");
            }
        }
        var allowed = masks.Allowed(_state);
        if (Array.TrueForAll(allowed, word => word == 0))
        {
            // Complete with nothing that can follow, or unable to continue: only the end tokens.
            Span<float> kept = stackalloc float[_end.Length];
            for (var e = 0; e < _end.Length; e++)
            {
                kept[e] = logits[_end[e]];
            }
            logits.Fill(float.NegativeInfinity);
            for (var e = 0; e < _end.Length; e++)
            {
                logits[_end[e]] = kept[e];
            }
            return;
        }
        Span<float> ends = stackalloc float[_end.Length];
        for (var e = 0; e < _end.Length; e++)
        {
            ends[e] = grammar.CanEnd(_state) ? logits[_end[e]] : float.NegativeInfinity;
        }
        for (var word = 0; word < allowed.Length; word++)
        {
            var bits = allowed[word];
            if (bits == ulong.MaxValue)
            {
                continue;
            }
            var first = word << 6;
            for (var bit = 0; bit < 64 && first + bit < logits.Length; bit++)
            {
                if ((bits >> bit & 1) == 0)
                {
                    logits[first + bit] = float.NegativeInfinity;
                }
            }
        }
        for (var e = 0; e < _end.Length; e++)
        {
            logits[_end[e]] = ends[e]; // an end token's own bytes never decide: it ends the text or is refused
        }
    }

    private bool Feed(TGrammar grammar, ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return false; // a token without bytes (special, control) never continues the text
        }
        var state = _state;
        foreach (var b in bytes)
        {
            if (!grammar.Feed(ref state, b))
            {
                return false;
            }
        }
        _state = state;
        return true;
    }
}

/// <summary>
/// OpenAI's JSON mode (<c>response_format: {"type": "json_object"}</c>) for one request: the output is one JSON object
/// (<see cref="JsonPrefixState"/>), then only the end tokens.
/// </summary>
public sealed class JsonObjectConstraint(JsonTokenTable table, IReadOnlyList<int> endTokenIds)
    : GrammarConstraint<JsonPrefixState, JsonObjectGrammar>(table.JsonObject, endTokenIds);

/// <summary>
/// Structured outputs (<c>response_format: {"type": "json_schema"}</c>) for one request: the output is one JSON value
/// its schema allows (<see cref="Cluster.JsonSchemas.TextAutomaton"/>), then only the end tokens.
/// </summary>
public sealed class TextAutomatonConstraint(GrammarMasks<int, TextAutomatonGrammar> masks, IReadOnlyList<int> endTokenIds)
    : GrammarConstraint<int, TextAutomatonGrammar>(masks, endTokenIds);
