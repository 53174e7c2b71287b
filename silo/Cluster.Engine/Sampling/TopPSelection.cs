namespace Cluster.Engine.Sampling;

/// <summary>
/// Nucleus (top-p) filtering: in <see cref="TokenRanking"/> order (most probable first, ties by lower id), keep the
/// shortest prefix whose probability sums to at least p, and always at least one token. Callers skip it when p = 1,
/// so that rounding in the running sum can never drop a tail token that p = 1 promises to keep.
/// </summary>
internal static class TopPSelection
{
    /// <summary>
    /// For candidates already in rank order (after top-k): the length of the prefix to keep.
    /// <paramref name="total"/> is the sum of all <paramref name="weights"/> (unnormalized probabilities).
    /// </summary>
    public static int PrefixLength(ReadOnlySpan<double> weights, double total, float topP)
    {
        double threshold = topP * total;
        double cumulative = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            cumulative += weights[i];
            if (cumulative >= threshold)
                return i + 1;
        }
        return weights.Length; // Rounding kept the sum just short of p·total: keep everything.
    }

    /// <summary>
    /// For unsorted candidates (no top-k): orders only as much of the vocabulary as the nucleus needs. A max-heap
    /// is built in O(n) and popped until the kept mass reaches p, so a peaked distribution costs O(n + m log n)
    /// for a nucleus of m tokens instead of a full O(n log n) sort.
    /// </summary>
    /// <param name="logits">Ranks the tokens (same order as their probabilities, temperature being monotonic).</param>
    /// <param name="candidates">The candidate token ids on entry; used as heap storage, so scrambled on return.</param>
    /// <param name="weightsById">Unnormalized probability of each token id.</param>
    /// <param name="total">Sum of the candidates' weights.</param>
    /// <param name="keptIds">Receives the kept ids, best first.</param>
    /// <param name="keptWeights">Receives their weights, aligned with <paramref name="keptIds"/>.</param>
    /// <returns>How many tokens were kept.</returns>
    public static int SelectFromUnsorted(
        ReadOnlySpan<float> logits, Span<int> candidates, ReadOnlySpan<double> weightsById, double total, float topP,
        Span<int> keptIds, Span<double> keptWeights)
    {
        int heapCount = candidates.Length;
        TokenHeap.Build<BestOnTop>(candidates, heapCount, logits);

        double threshold = topP * total;
        double cumulative = 0;
        int kept = 0;
        while (heapCount > 0)
        {
            int best = candidates[0];
            keptIds[kept] = best;
            keptWeights[kept] = weightsById[best];
            kept++;
            cumulative += weightsById[best];
            if (cumulative >= threshold)
                break;
            heapCount--;
            candidates[0] = candidates[heapCount];
            TokenHeap.SiftDown<BestOnTop>(candidates, heapCount, 0, logits);
        }
        return kept;
    }
}
