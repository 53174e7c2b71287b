using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// Seeded 20k-draw runs: each token's observed frequency is within 5 standard errors, 5·sqrt(q(1-q)/n), of the
/// probability q the semantics promise (about 0.018 at q = 0.5). The seed makes the run reproducible, so the bound is
/// a check of the maths, not a flaky statistical test.
/// </summary>
public class EmpiricalDistributionTests
{
    private const int Draws = 20_000;

    private static void AssertFrequenciesMatch(double[] expected, int[] counts)
    {
        for (int id = 0; id < expected.Length; id++)
        {
            double observed = (double)counts[id] / Draws;
            double tolerance = 5 * Math.Sqrt(expected[id] * (1 - expected[id]) / Draws);
            Assert.True(Math.Abs(observed - expected[id]) <= tolerance,
                $"token {id}: expected {expected[id]:F4} ± {tolerance:F4}, observed {observed:F4}; counts {SamplerRuns.Format(counts)}");
        }
    }

    [Fact]
    public void PlainSampling_MatchesSoftmax()
    {
        double[] probabilities = [0.5, 0.25, 0.15, 0.07, 0.03];
        int[] counts = SamplerRuns.Histogram(new SamplingParameters { Seed = 31 }, SamplerRuns.LogitsFor(probabilities), Draws);
        AssertFrequenciesMatch(probabilities, counts);
    }

    [Fact]
    public void TemperatureAndTopK_MatchRenormalizedSoftmaxOfScaledLogits()
    {
        // T = 0.5 squares the probabilities (0.25, 0.0625, 0.0225, ...); top-3 keeps the first three, renormalized.
        double[] probabilities = [0.5, 0.25, 0.15, 0.07, 0.03];
        double[] squared = probabilities.Select(q => q * q).ToArray();
        double top3 = squared.Take(3).Sum();
        double[] expected = squared.Select((q, id) => id < 3 ? q / top3 : 0).ToArray();

        var parameters = new SamplingParameters { Seed = 32, Temperature = 0.5f, TopK = 3 };
        int[] counts = SamplerRuns.Histogram(parameters, SamplerRuns.LogitsFor(probabilities), Draws);
        AssertFrequenciesMatch(expected, counts);
    }

    [Fact]
    public void TopP_MatchesRenormalizedNucleus()
    {
        // p = 0.8 keeps 0.5 + 0.25 + 0.15 = 0.9 (0.75 is not enough); renormalized over 0.9.
        double[] probabilities = [0.15, 0.5, 0.03, 0.25, 0.07];
        double[] expected = probabilities.Select(q => q >= 0.15 ? q / 0.9 : 0).ToArray();
        int[] counts = SamplerRuns.Histogram(new SamplingParameters { Seed = 33, TopP = 0.8f }, SamplerRuns.LogitsFor(probabilities), Draws);
        AssertFrequenciesMatch(expected, counts);
    }

    [Fact]
    public void HighTemperature_FlattensTheDistribution()
    {
        // T = 2: probabilities ∝ sqrt(q).
        double[] probabilities = [0.64, 0.16, 0.16, 0.04];
        double[] roots = probabilities.Select(Math.Sqrt).ToArray();
        double[] expected = roots.Select(r => r / roots.Sum()).ToArray();
        int[] counts = SamplerRuns.Histogram(new SamplingParameters { Seed = 34, Temperature = 2f }, SamplerRuns.LogitsFor(probabilities), Draws);
        AssertFrequenciesMatch(expected, counts);
    }
}
