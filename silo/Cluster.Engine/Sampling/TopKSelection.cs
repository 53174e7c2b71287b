namespace Cluster.Engine.Sampling;

/// <summary>
/// Finds the k best-ranked tokens (<see cref="TokenRanking"/>: highest logit, ties by lower id) without sorting the
/// vocabulary: one pass with a k-element heap whose root is the weakest token kept, O(V log k) at worst and close
/// to O(V) on real logits, where few tokens beat the root. Used for top-k and for the reported alternatives.
/// </summary>
internal static class TopKSelection
{
    /// <summary>
    /// Writes the <c>destination.Length</c> best-ranked tokens with a finite logit into <paramref name="destination"/>,
    /// best first, and returns how many it wrote (fewer only when fewer tokens are finite). When several tokens tie
    /// at the k-th logit, exactly k are kept: the tied ones with the lowest ids.
    /// </summary>
    public static int SelectHighest(ReadOnlySpan<float> logits, Span<int> destination)
    {
        int k = destination.Length;
        if (k == 0)
            return 0;

        int count = 0;
        for (int id = 0; id < logits.Length; id++)
        {
            float logit = logits[id];
            if (float.IsNegativeInfinity(logit))
                continue; // -inf is "never": such a token is not a candidate even to fill up k.
            if (count < k)
            {
                destination[count] = id;
                TokenHeap.SiftUp<WorstOnTop>(destination, count, logits);
                count++;
            }
            else if (TokenRanking.RanksAbove(logits, id, destination[0]))
            {
                // Ids arrive in ascending order, so a tie with the root loses to it: lower ids win ties.
                destination[0] = id;
                TokenHeap.SiftDown<WorstOnTop>(destination, count, 0, logits);
            }
        }

        // Heapsort in place: moving the weakest to the end each time leaves the span best-first.
        for (int end = count - 1; end > 0; end--)
        {
            (destination[0], destination[end]) = (destination[end], destination[0]);
            TokenHeap.SiftDown<WorstOnTop>(destination, end, 0, logits);
        }
        return count;
    }
}
