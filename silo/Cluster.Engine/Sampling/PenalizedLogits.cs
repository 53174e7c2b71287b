namespace Cluster.Engine.Sampling;

/// <summary>What one pass over the prepared logits learned, so later steps need not scan again.</summary>
/// <param name="Max">The largest logit (finite).</param>
/// <param name="ArgMax">The lowest token id holding <paramref name="Max"/>: the greedy choice.</param>
/// <param name="FiniteCount">How many tokens are not -inf, i.e. can be sampled at all.</param>
internal readonly record struct LogitSummary(float Max, int ArgMax, int FiniteCount);

/// <summary>
/// The first step of sampling: copies the model's logits into a scratch buffer, makes them well defined and applies
/// the repetition penalty. Everything after (logprobs, temperature, top-k, top-p) reads this buffer.
/// </summary>
internal static class PenalizedLogits
{
    /// <summary>
    /// Fills <paramref name="destination"/> with the sanitized, penalized logits and summarizes them.
    /// NaN becomes -inf (the token can never be chosen); +inf becomes <see cref="float.MaxValue"/> so that softmax
    /// stays defined (the token then takes all the probability, shared with any other such token).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A previous token id is outside the vocabulary (only checked when the penalty is active).</exception>
    /// <exception cref="InvalidOperationException">Every logit is -inf or NaN: there is nothing to sample.</exception>
    public static LogitSummary Prepare(
        ReadOnlySpan<float> logits, IReadOnlyList<int> previousTokens, float repetitionPenalty, Span<float> destination)
    {
        for (int i = 0; i < logits.Length; i++)
            destination[i] = Sanitize(logits[i]);

        if (repetitionPenalty != 1f)
            ApplyRepetitionPenalty(logits, previousTokens, repetitionPenalty, destination);

        return Summarize(destination);
    }

    /// <summary>
    /// CTRL (Keskar et al., 2019) as implemented by Hugging Face's <c>RepetitionPenaltyLogitsProcessor</c> and vLLM:
    /// each distinct token seen in the prompt or the output has its logit divided by the penalty when positive and
    /// multiplied by it when not. The new value is computed from the original logit, so a token repeated many times
    /// is still penalized exactly once.
    /// </summary>
    public static float Penalize(float logit, float penalty) => logit > 0f ? logit / penalty : logit * penalty;

    private static void ApplyRepetitionPenalty(
        ReadOnlySpan<float> logits, IReadOnlyList<int> previousTokens, float penalty, Span<float> destination)
    {
        for (int i = 0; i < previousTokens.Count; i++)
        {
            int id = previousTokens[i];
            if ((uint)id >= (uint)logits.Length)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(previousTokens), id,
                    $"Previous token at position {i} has id {id}, outside the vocabulary of {logits.Length} logits.");
            }
            // Sanitize again: a penalty below 1 can push float.MaxValue to +inf.
            destination[id] = Sanitize(Penalize(Sanitize(logits[id]), penalty));
        }
    }

    private static float Sanitize(float logit) =>
        float.IsNaN(logit) ? float.NegativeInfinity
        : float.IsPositiveInfinity(logit) ? float.MaxValue
        : logit;

    private static LogitSummary Summarize(ReadOnlySpan<float> logits)
    {
        float max = float.NegativeInfinity;
        int argMax = -1;
        int finiteCount = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float logit = logits[i];
            if (float.IsNegativeInfinity(logit))
                continue;
            finiteCount++;
            if (logit > max) // strict: the first (lowest) id keeps a tie
            {
                max = logit;
                argMax = i;
            }
        }
        if (finiteCount == 0)
        {
            throw new InvalidOperationException(
                $"All {logits.Length} logits are -inf or NaN (after the repetition penalty), so no token can be sampled. " +
                "The model produced invalid output or every token was masked.");
        }
        return new LogitSummary(max, argMax, finiteCount);
    }
}
