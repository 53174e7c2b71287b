namespace Cluster.Engine.Sampling;

/// <summary>
/// Log-probabilities of the model's distribution: log_softmax(logits)[i] = logits[i] - logsumexp(logits).
/// Computed in double: with 150k tokens a float sum loses the small terms and the logprobs drift.
/// </summary>
internal static class LogSoftmax
{
    /// <summary>
    /// logsumexp(logits) = max + log(Σ exp(logit - max)); subtracting the max keeps every exp in (0, 1] so nothing
    /// overflows. -inf logits contribute exp(-inf) = 0.
    /// </summary>
    public static double LogNormalizer(ReadOnlySpan<float> logits, float max)
    {
        double sum = 0;
        double shift = max;
        for (int i = 0; i < logits.Length; i++)
            sum += Math.Exp(logits[i] - shift);
        return LogNormalizerFromSum(max, sum);
    }

    /// <summary>logsumexp from a sum of exp(logit - max) that the caller already has.</summary>
    public static double LogNormalizerFromSum(float max, double sumOfExp) => max + Math.Log(sumOfExp);

    /// <summary>The <paramref name="count"/> most likely tokens with their log-probabilities, best first, ties by lower id.</summary>
    public static IReadOnlyList<TokenLogprob> TopAlternatives(ReadOnlySpan<float> logits, double logNormalizer, int count)
    {
        if (count == 0)
            return [];
        Span<int> ids = stackalloc int[count]; // count <= SamplingParameters.MaxTopLogprobs
        int found = TopKSelection.SelectHighest(logits, ids);
        var alternatives = new TokenLogprob[found];
        for (int i = 0; i < found; i++)
            alternatives[i] = new TokenLogprob(ids[i], (float)(logits[ids[i]] - logNormalizer));
        return alternatives;
    }
}
