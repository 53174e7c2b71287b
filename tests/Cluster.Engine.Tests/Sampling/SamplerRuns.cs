using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>Helpers shared by the sampling tests: repeated draws, reference maths written independently of the sampler.</summary>
internal static class SamplerRuns
{
    /// <summary>Counts how often each token id is drawn in <paramref name="draws"/> steps of one seeded sampler.</summary>
    public static int[] Histogram(SamplingParameters parameters, float[] logits, int draws)
    {
        var sampler = new TokenSampler(parameters);
        var counts = new int[logits.Length];
        for (int i = 0; i < draws; i++)
            counts[sampler.Sample(logits, []).TokenId]++;
        return counts;
    }

    /// <summary>The ids drawn at least once, ascending.</summary>
    public static int[] Support(int[] histogram) =>
        Enumerable.Range(0, histogram.Length).Where(id => histogram[id] > 0).ToArray();

    /// <summary>Logits whose softmax is exactly proportional to <paramref name="probabilities"/> (up to float rounding).</summary>
    public static float[] LogitsFor(params double[] probabilities) =>
        probabilities.Select(p => p == 0 ? float.NegativeInfinity : (float)Math.Log(p)).ToArray();

    /// <summary>log_softmax by the textbook formula, in double, as the oracle for the sampler's logprobs.</summary>
    public static double[] ReferenceLogSoftmax(float[] logits)
    {
        double max = logits.Where(float.IsFinite).Select(l => (double)l).Max();
        double sum = logits.Sum(l => Math.Exp(l - max));
        return logits.Select(l => l - max - Math.Log(sum)).ToArray();
    }

    /// <summary>Token ids ranked by a full sort: logit descending, ties by lower id (the order the sampler promises).</summary>
    public static int[] ReferenceRanking(float[] logits) =>
        Enumerable.Range(0, logits.Length)
            .Where(id => !float.IsNegativeInfinity(logits[id]))
            .OrderByDescending(id => logits[id]).ThenBy(id => id)
            .ToArray();

    /// <summary>Random logits with many exact ties (values from a small set), to stress tie breaking.</summary>
    public static float[] TiedLogits(int vocab, int distinctValues, int seed)
    {
        var random = new Random(seed); // test data only; the sampler never uses System.Random
        return Enumerable.Range(0, vocab).Select(_ => (float)random.Next(distinctValues) * 0.5f).ToArray();
    }

    public static string Format(IEnumerable<int> ids) => "[" + string.Join(", ", ids) + "]";
}
