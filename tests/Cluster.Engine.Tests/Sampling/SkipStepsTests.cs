using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// A sampler rebuilt after its state was lost skips the steps already taken and then draws what the original would
/// have: the cluster relies on this to give a seeded request the same tokens after a cache eviction or failover.
/// </summary>
public class SkipStepsTests
{
    private static readonly float[] FlatLogits = new float[500]; // uniform: every draw matters

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(17)]
    public void RebuiltSamplerThatSkipsContinuesTheOriginalStream(int taken)
    {
        var parameters = new SamplingParameters { Seed = 99, Temperature = 0.9f, TopK = 100 };
        var original = new TokenSampler(parameters);
        for (int i = 0; i < taken; i++)
            original.Sample(FlatLogits, []);
        var expected = Enumerable.Range(0, 10).Select(_ => original.Sample(FlatLogits, []).TokenId).ToArray();

        var rebuilt = new TokenSampler(parameters);
        rebuilt.SkipSteps(taken);
        Assert.Equal(taken, rebuilt.Steps);
        var actual = Enumerable.Range(0, 10).Select(_ => rebuilt.Sample(FlatLogits, []).TokenId).ToArray();

        Assert.True(expected.SequenceEqual(actual), $"after skipping {taken}: expected {SamplerRuns.Format(expected)}, got {SamplerRuns.Format(actual)}");
        Assert.Equal(taken + 10, rebuilt.Steps);
    }

    [Fact]
    public void GreedySamplerCountsSkippedStepsWithoutDrawing()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0f });
        sampler.SkipSteps(5);
        Assert.Equal(5, sampler.Steps);
        Assert.Equal(1, sampler.Sample([0f, 2f, 1f], []).TokenId);
        Assert.Equal(6, sampler.Steps);
    }
}
