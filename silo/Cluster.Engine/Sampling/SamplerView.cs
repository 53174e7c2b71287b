namespace Cluster.Engine.Sampling;

/// <summary>A token and its probability at one step of the sampler.</summary>
public readonly record struct TokenChance(int TokenId, double Probability);

/// <summary>
/// What <see cref="TokenSampler"/> does to one step's logits, step by step: the distribution after the repetition
/// penalty, after the temperature, how many tokens survive min-p, top-k and top-p in turn, and the renormalised
/// distribution the draw is made from. The same rules and helpers as the sampler (tokens ranked by logit, ties to
/// the lower id; each filter keeps a prefix of that ranking), so a seeded sampler only ever draws from
/// <see cref="DrawnFrom"/>, with these probabilities.
/// </summary>
/// <param name="AfterPenalty">The most likely tokens after the repetition penalty, at temperature 1 (what logprobs report).</param>
/// <param name="AfterTemperature">The most likely tokens after the temperature (equal to <paramref name="AfterPenalty"/> when greedy).</param>
/// <param name="Greedy">Temperature below <see cref="TokenSampler.GreedyTemperatureThreshold"/>: the top token, no draw.</param>
/// <param name="DrawnFrom">Every survivor of the filters (at most the limit asked for), renormalised, most likely first.</param>
public sealed record SamplerView(
    IReadOnlyList<TokenChance> AfterPenalty,
    IReadOnlyList<TokenChance> AfterTemperature,
    bool Greedy,
    int FiniteTokens,
    int KeptAfterMinP,
    int KeptAfterTopK,
    int KeptAfterTopP,
    IReadOnlyList<TokenChance> DrawnFrom)
{
    /// <param name="logits">One step's logits, one per vocabulary entry.</param>
    /// <param name="previousTokens">The sequence so far, for the repetition penalty.</param>
    /// <param name="top">How many tokens to list for the first two steps.</param>
    /// <param name="maxDrawnFrom">How many survivors to list at most.</param>
    public static SamplerView Explain(ReadOnlySpan<float> logits, IReadOnlyList<int> previousTokens, SamplingParameters parameters, int top, int maxDrawnFrom)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        parameters.Validate();
        var penalized = new float[logits.Length];
        var summary = PenalizedLogits.Prepare(logits, previousTokens, parameters.RepetitionPenalty, penalized);

        // The finite tokens ranked as the sampler ranks them: by logit, ties to the lower id.
        var ranked = Enumerable.Range(0, penalized.Length).Where(id => !float.IsNegativeInfinity(penalized[id]))
            .OrderByDescending(id => penalized[id]).ThenBy(id => id).ToArray();
        var atOne = ranked.Select(id => TokenSampler.Weight(penalized[id], summary.Max, 1f)).ToArray();
        var afterPenalty = Normalised(ranked, atOne, atOne.Sum(), top);
        if (parameters.Temperature < TokenSampler.GreedyTemperatureThreshold)
        {
            return new SamplerView(afterPenalty, afterPenalty, true, ranked.Length, 1, 1, 1, [new TokenChance(summary.ArgMax, 1)]);
        }

        var weights = ranked.Select(id => TokenSampler.Weight(penalized[id], summary.Max, parameters.Temperature)).ToArray();
        var afterTemperature = Normalised(ranked, weights, weights.Sum(), top);
        var kept = parameters.MinP > 0f ? TokenSampler.MinPPrefixLength(weights, parameters.MinP) : weights.Length;
        var afterMinP = kept;
        if (parameters.TopK > 0 && parameters.TopK < kept)
        {
            kept = parameters.TopK;
        }
        var afterTopK = kept;
        if (parameters.TopP < 1f)
        {
            kept = TopPSelection.PrefixLength(weights.AsSpan(0, kept), weights.AsSpan(0, kept).ToArray().Sum(), parameters.TopP);
        }
        var total = weights.AsSpan(0, kept).ToArray().Sum();
        return new SamplerView(afterPenalty, afterTemperature, false, ranked.Length, afterMinP, afterTopK, kept,
            Normalised(ranked[..kept], weights[..kept], total, maxDrawnFrom));
    }

    private static TokenChance[] Normalised(int[] ranked, double[] weights, double total, int count) =>
        [.. ranked.Take(count).Select((id, i) => new TokenChance(id, weights[i] / total))];
}
