using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>NaN logits behave like -inf (never chosen); if nothing finite is left the sampler fails with a clear error.</summary>
public class InvalidLogitsTests
{
    [Fact]
    public void NaNLogits_AreNeverChosen()
    {
        float[] logits = [float.NaN, 0f, float.NaN, 0f, float.NaN];
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(new SamplingParameters { Seed = 51 }, logits, 1000));
        Assert.Equal([1, 3], support);
    }

    [Fact]
    public void NaNLogits_AreNeverChosen_ByGreedyTopKOrTopP()
    {
        float[] logits = [float.NaN, -1f, float.NaN, -2f];
        foreach (var parameters in new[]
                 {
                     new SamplingParameters { Temperature = 0f },
                     new SamplingParameters { Seed = 52, TopK = 3 },
                     new SamplingParameters { Seed = 52, TopP = 0.99f },
                 })
        {
            int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, logits, 500));
            Assert.True(support.All(id => id is 1 or 3), $"{parameters}: drew {SamplerRuns.Format(support)}");
        }
    }

    [Theory]
    [InlineData(float.NegativeInfinity)]
    [InlineData(float.NaN)]
    public void NothingFinite_Throws_WithClearMessage(float value)
    {
        float[] logits = [value, value, value];
        var error = Assert.Throws<InvalidOperationException>(() => new TokenSampler(new SamplingParameters { Seed = 1 }).Sample(logits, []));
        Assert.Contains("All 3 logits are -inf or NaN", error.Message);
    }

    [Fact]
    public void PositiveInfinity_TakesAllTheProbability()
    {
        float[] logits = [0f, float.PositiveInfinity, 5f];
        SampledToken token = new TokenSampler(new SamplingParameters { Seed = 53 }).Sample(logits, []);
        Assert.Equal(1, token.TokenId);
        Assert.Equal(0f, token.Logprob);
    }

    [Fact]
    public void EmptyLogits_AreRejected() =>
        Assert.Throws<ArgumentException>(() => new TokenSampler(new SamplingParameters()).Sample([], []));
}
