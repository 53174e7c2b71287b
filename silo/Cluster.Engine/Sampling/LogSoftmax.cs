using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

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
    /// <remarks>
    /// Sixteen logits at a time where the hardware has 512-bit vectors: widened to double, exponentiated and summed in
    /// double lanes. The order of the additions differs from a sequential sum only at double rounding, far below the
    /// float the logprobs are reported in.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    public static double LogNormalizer(ReadOnlySpan<float> logits, float max)
    {
        double sum = 0;
        double shift = max;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref float start = ref MemoryMarshal.GetReference(logits);
            var shifts = Vector512.Create(shift);
            var (low, high) = (Vector512<double>.Zero, Vector512<double>.Zero);
            for (; i <= logits.Length - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var (lower, upper) = Vector512.Widen(Vector512.LoadUnsafe(ref start, (nuint)i));
                low += Vector512.Exp(lower - shifts);
                high += Vector512.Exp(upper - shifts);
            }
            sum = Vector512.Sum(low + high);
        }
        for (; i < logits.Length; i++)
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
