using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// The vectorized passes over the logits (sanitize, maximum / argmax / finite count, log-normalizer) against the plain
/// sequential loops they replace, on lengths that are not multiples of the vector width and on the awkward values:
/// NaN, ±inf, float.MaxValue, ties (lowest id wins), -0 against +0, the maximum in the scalar tail.
/// </summary>
public class VectorizedLogitPassesTests
{
    public static TheoryData<int, int> Cases => new()
    {
        { 1, 1 }, { 7, 2 }, { 16, 3 }, { 17, 4 }, { 33, 5 }, { 1000, 6 }, { 50257, 7 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void PrepareAndLogNormalizerMatchTheSequentialLoops(int vocabulary, int seed)
    {
        var random = new Random(seed); // test data only
        for (var trial = 0; trial < 20; trial++)
        {
            var logits = Enumerable.Range(0, vocabulary).Select(_ => (float)Math.Round(random.NextDouble() * 40 - 20, trial % 3 == 0 ? 0 : 6)).ToArray();
            Sprinkle(logits, random, trial);
            if (logits.All(l => float.IsNaN(l) || float.IsNegativeInfinity(l)))
            {
                logits[random.Next(vocabulary)] = 1f;
            }
            var destination = new float[vocabulary];
            var summary = PenalizedLogits.Prepare(logits, [], 0, new SamplingParameters(), destination);

            var expected = logits.Select(l => float.IsNaN(l) ? float.NegativeInfinity : float.IsPositiveInfinity(l) ? float.MaxValue : l).ToArray();
            for (var i = 0; i < vocabulary; i++)
            {
                Assert.True(expected[i].Equals(destination[i]), $"vocabulary {vocabulary}, trial {trial}: logit {i} = {logits[i]} prepared as {destination[i]}, expected {expected[i]}");
            }
            var (max, argMax, finite) = SequentialSummary(expected);
            Assert.True(argMax == summary.ArgMax && max.Equals(summary.Max) && finite == summary.FiniteCount,
                $"vocabulary {vocabulary}, trial {trial}: summary ({summary.Max}, {summary.ArgMax}, {summary.FiniteCount}), sequential loop ({max}, {argMax}, {finite})");

            double sequential = 0;
            foreach (var l in expected)
            {
                sequential += Math.Exp(l - (double)max);
            }
            var logNormalizer = LogSoftmax.LogNormalizer(expected, max);
            var reference = max + Math.Log(sequential);
            Assert.True(Math.Abs(logNormalizer - reference) <= 1e-12 * Math.Max(1, Math.Abs(reference)),
                $"vocabulary {vocabulary}, trial {trial}: log-normalizer {logNormalizer:R}, sequential {reference:R}");
            Assert.Equal((float)(expected[argMax] - reference), (float)(expected[argMax] - logNormalizer));
        }
    }

    [Fact]
    public void NegativeZeroBeforePositiveZeroIsTheArgmaxWithItsOwnSign()
    {
        var logits = Enumerable.Repeat(-1f, 40).ToArray();
        logits[21] = -0f;
        logits[35] = 0f;
        var summary = PenalizedLogits.Prepare(logits, [], 0, new SamplingParameters(), new float[40]);
        Assert.Equal(21, summary.ArgMax);
        Assert.True(float.IsNegative(summary.Max), $"the maximum should keep the sign of logit 21 (-0), got {summary.Max}");
    }

    [Fact]
    public void TheLastOfSeveralMaximaInTheTailDoesNotWinOverTheFirst()
    {
        var logits = Enumerable.Repeat(0.5f, 37).ToArray();
        logits[3] = 9f;
        logits[36] = 9f;
        Assert.Equal(3, PenalizedLogits.Prepare(logits, [], 0, new SamplingParameters(), new float[37]).ArgMax);
        logits[3] = 0.5f;
        Assert.Equal(36, PenalizedLogits.Prepare(logits, [], 0, new SamplingParameters(), new float[37]).ArgMax);
    }

    private static void Sprinkle(float[] logits, Random random, int trial)
    {
        var specials = new[] { float.NaN, float.NegativeInfinity, float.PositiveInfinity, float.MaxValue, -0f, 0f };
        var count = trial % 4 == 0 ? 0 : 1 + random.Next(Math.Max(1, logits.Length / 10));
        for (var k = 0; k < count; k++)
        {
            logits[random.Next(logits.Length)] = specials[random.Next(specials.Length)];
        }
        if (trial % 5 == 1)
        {
            Array.Fill(logits, float.NegativeInfinity, 0, logits.Length / 2); // a masked half
        }
    }

    /// <summary>The loop PenalizedLogits.Summarize ran before it was vectorized.</summary>
    private static (float Max, int ArgMax, int Finite) SequentialSummary(float[] logits)
    {
        float max = float.NegativeInfinity;
        int argMax = -1, finite = 0;
        for (var i = 0; i < logits.Length; i++)
        {
            if (float.IsNegativeInfinity(logits[i]))
            {
                continue;
            }
            finite++;
            if (logits[i] > max)
            {
                max = logits[i];
                argMax = i;
            }
        }
        return (max, argMax, finite);
    }
}
