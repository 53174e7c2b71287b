using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>Temperature 0 (or below 1e-5) is greedy: argmax, ties to the lowest id, no randomness; tiny positive temperatures converge to it.</summary>
public class GreedyTests
{
    [Fact]
    public void TemperatureZero_PicksArgmax_OnManyRandomLogitVectors()
    {
        var random = new Random(21); // test data only
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0f });
        for (int trial = 0; trial < 50; trial++)
        {
            float[] logits = Enumerable.Range(0, 3000).Select(_ => (float)(random.NextDouble() * 20 - 10)).ToArray();
            int expected = SamplerRuns.ReferenceRanking(logits)[0];
            int actual = sampler.Sample(logits, []).TokenId;
            Assert.True(expected == actual, $"trial {trial}: argmax is {expected} ({logits[expected]}), sampled {actual} ({logits[actual]})");
        }
    }

    [Fact]
    public void TemperatureZero_BreaksTiesByLowestId() =>
        Assert.Equal(1, new TokenSampler(new SamplingParameters { Temperature = 0f }).Sample([2f, 5f, 5f, 5f], []).TokenId);

    [Fact]
    public void TinyTemperature_WithNearlyEqualLogits_IsGreedy()
    {
        // 1e-6 is below the greedy threshold; the winner leads by one float ulp, which sampling at T = 1e-6 would not resolve.
        float top = MathF.BitIncrement(1f);
        float[] logits = [1f, top, 1f, 1f];
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 1e-6f, Seed = 1 });
        var chosen = Enumerable.Range(0, 100).Select(_ => sampler.Sample(logits, []).TokenId).Distinct().ToArray();
        Assert.Equal([1], chosen);
    }

    [Fact]
    public void TinyTemperature_TiesStillGoToTheLowestId()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 1e-6f, Seed = 2 });
        var chosen = Enumerable.Range(0, 100).Select(_ => sampler.Sample([0f, 3f, 3f], []).TokenId).Distinct().ToArray();
        Assert.Equal([1], chosen);
    }

    [Theory]
    [InlineData(1e-3f)]
    [InlineData(1e-4f)]
    public void SmallPositiveTemperature_AgreesWithGreedy(float temperature)
    {
        // Above the threshold this really samples, but a logit gap of 0.1 at T <= 1e-3 gives odds below e^-100.
        var random = new Random(22); // test data only
        var greedy = new TokenSampler(new SamplingParameters { Temperature = 0f });
        var cold = new TokenSampler(new SamplingParameters { Temperature = temperature, Seed = 3 });
        for (int trial = 0; trial < 50; trial++)
        {
            float[] logits = Enumerable.Range(0, 500).Select(_ => (float)Math.Round(random.NextDouble() * 50) / 10f).ToArray();
            int top = SamplerRuns.ReferenceRanking(logits)[0];
            if (logits.Count(l => l == logits[top]) > 1)
                continue; // an exact tie is a coin flip at any positive temperature
            Assert.Equal(greedy.Sample(logits, []).TokenId, cold.Sample(logits, []).TokenId);
        }
    }
}
