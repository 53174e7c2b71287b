namespace Cluster.Engine.Sampling;

/// <summary>Which token a <see cref="TokenHeap"/> keeps at its root.</summary>
internal interface IHeapOrder
{
    /// <summary>True when <paramref name="a"/> belongs nearer the root than <paramref name="b"/>.</summary>
    static abstract bool NearerRoot(ReadOnlySpan<float> logits, int a, int b);
}

/// <summary>Root = the best-ranked token: pops tokens in <see cref="TokenRanking"/> order (top-p).</summary>
internal readonly struct BestOnTop : IHeapOrder
{
    public static bool NearerRoot(ReadOnlySpan<float> logits, int a, int b) => TokenRanking.RanksAbove(logits, a, b);
}

/// <summary>Root = the worst-ranked token kept so far: the one a better candidate evicts (top-k).</summary>
internal readonly struct WorstOnTop : IHeapOrder
{
    public static bool NearerRoot(ReadOnlySpan<float> logits, int a, int b) => TokenRanking.RanksAbove(logits, b, a);
}

/// <summary>
/// A binary heap of token ids keyed by their logits, in a caller-owned span so that selection allocates nothing.
/// The order is a type parameter (a struct implementing <see cref="IHeapOrder"/>) so the JIT specializes and inlines
/// the comparison, which runs up to vocab-size times per step.
/// </summary>
internal static class TokenHeap
{
    /// <summary>Arranges <paramref name="heap"/>[0..count) into a heap in O(count).</summary>
    public static void Build<TOrder>(Span<int> heap, int count, ReadOnlySpan<float> logits) where TOrder : IHeapOrder
    {
        for (int i = count / 2 - 1; i >= 0; i--)
            SiftDown<TOrder>(heap, count, i, logits);
    }

    /// <summary>Restores the heap after the element at <paramref name="index"/> was appended (moves it up).</summary>
    public static void SiftUp<TOrder>(Span<int> heap, int index, ReadOnlySpan<float> logits) where TOrder : IHeapOrder
    {
        int item = heap[index];
        while (index > 0)
        {
            int parent = (index - 1) / 2;
            if (!TOrder.NearerRoot(logits, item, heap[parent]))
                break;
            heap[index] = heap[parent];
            index = parent;
        }
        heap[index] = item;
    }

    /// <summary>Restores the heap of <paramref name="count"/> elements after the element at <paramref name="index"/> was replaced (moves it down).</summary>
    public static void SiftDown<TOrder>(Span<int> heap, int count, int index, ReadOnlySpan<float> logits) where TOrder : IHeapOrder
    {
        int item = heap[index];
        while (true)
        {
            int child = 2 * index + 1;
            if (child >= count)
                break;
            if (child + 1 < count && TOrder.NearerRoot(logits, heap[child + 1], heap[child]))
                child++;
            if (!TOrder.NearerRoot(logits, heap[child], item))
                break;
            heap[index] = heap[child];
            index = child;
        }
        heap[index] = item;
    }
}
