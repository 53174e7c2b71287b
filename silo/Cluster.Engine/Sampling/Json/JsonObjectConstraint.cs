namespace Cluster.Engine.Sampling.Json;

/// <summary>
/// OpenAI's JSON mode (<c>response_format: {"type": "json_object"}</c>) for one request: every step, tokens whose bytes
/// cannot continue the text generated so far as one JSON object get a logit of -inf, and once the object has closed
/// only the end tokens (EOS) remain (also in the unlikely state no token of the vocabulary can continue: a vocabulary
/// without single-byte tokens for JSON's punctuation). The state follows the request's own output, read from the history the sampler is
/// given (its last <see cref="TokenSampler.Steps"/> tokens), so a sampler rebuilt after a failover picks up where the
/// lost one was.
/// </summary>
/// <param name="table">The vocabulary's bytes.</param>
/// <param name="endTokenIds">The tokens that end the request (EOS): allowed only once the object is complete.</param>
public sealed class JsonObjectConstraint(JsonTokenTable table, IReadOnlyList<int> endTokenIds)
{
    // The end tokens the logits have (a model's vocabulary may have fewer rows than its config names): few, so an array.
    private readonly int[] _end = [.. endTokenIds.Distinct().Where(id => (uint)id < (uint)table.VocabularySize)];
    private JsonPrefixState _state;
    private int _read; // generated tokens already read into _state

    /// <summary>
    /// Catches up with the request's output (the last <paramref name="generated"/> of <paramref name="history"/>), then
    /// sets every logit the constraint forbids to -inf.
    /// </summary>
    /// <exception cref="InvalidOperationException">A generated token does not continue the JSON object: the output did not come from this constraint.</exception>
    public void Apply(Span<float> logits, IReadOnlyList<int> history, int generated)
    {
        if (logits.Length != table.VocabularySize)
        {
            throw new ArgumentException($"JSON mode's table has {table.VocabularySize} tokens; the step has {logits.Length} logits.", nameof(logits));
        }
        if (generated < _read)
        {
            // The history was rewound (a replayed request): read it again from its start.
            (_state, _read) = (default, 0);
        }
        for (var i = history.Count - generated + _read; i < history.Count; i++, _read++)
        {
            var id = history[i];
            if (_state.IsComplete && _end.Contains(id))
            {
                continue;
            }
            if ((uint)id >= (uint)table.VocabularySize || table.BytesOf(id).IsEmpty || !_state.Feed(table.BytesOf(id)))
            {
                throw new InvalidOperationException($"Generated token {id} at position {i} does not continue a JSON object; JSON mode cannot resume from this output.");
            }
        }
        var allowed = _state.IsComplete ? null : table.Allowed(_state);
        if (allowed is null || Array.TrueForAll(allowed, word => word == 0))
        {
            // Complete, or (with a vocabulary that lacks a byte the object needs next) unable to continue: only the end
            // tokens, so the request ends instead of failing the step it shares with others.
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
        foreach (var id in _end)
        {
            logits[id] = float.NegativeInfinity; // the object is still open
        }
    }
}
