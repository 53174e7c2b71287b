using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>Top-k keeps exactly the k best tokens; ties at the k-th value go to the lower ids, and never more than k survive.</summary>
public class TopKTests
{
    [Fact]
    public void Sampling_DrawsExactlyTheKHighestTokens()
    {
        float[] logits = [0.1f, 3.0f, 0.2f, 2.0f, 2.5f, -1.0f, 1.9f];
        var parameters = new SamplingParameters { Seed = 1, TopK = 3 };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, logits, 3000));
        Assert.Equal([1, 3, 4], support);
    }

    [Fact]
    public void Sampling_TieAtTheKthValue_KeepsExactlyKTokens_LowerIdsFirst()
    {
        // Ids 1, 2, 4, 6 tie at 1.0 behind id 5 (2.0). k = 3 keeps id 5 and the two lowest tied ids, 1 and 2.
        float[] logits = [0.0f, 1.0f, 1.0f, 0.5f, 1.0f, 2.0f, 1.0f];
        var parameters = new SamplingParameters { Seed = 3, TopK = 3, Temperature = 3f };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, logits, 3000));
        Assert.Equal([1, 2, 5], support);
    }

    [Fact]
    public void Sampling_KAtLeastVocab_KeepsEveryToken()
    {
        float[] logits = [0f, 0f, 0f, 0f];
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(new SamplingParameters { Seed = 2, TopK = 10 }, logits, 400));
        Assert.Equal([0, 1, 2, 3], support);
    }

    [Fact]
    public void Sampling_TopK1_IsGreedy()
    {
        float[] logits = [1f, 4f, 4f, 2f];
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(new SamplingParameters { Seed = 4, TopK = 1, Temperature = 5f }, logits, 200));
        Assert.Equal([1], support);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(50)]
    [InlineData(999)]
    public void Selection_MatchesAFullSort_OnHeavilyTiedLogits(int k)
    {
        float[] logits = SamplerRuns.TiedLogits(vocab: 1000, distinctValues: 12, seed: k);
        int[] expected = SamplerRuns.ReferenceRanking(logits)[..k];
        var actual = new int[k];
        int count = TopKSelection.SelectHighest(logits, actual);
        Assert.Equal(k, count);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Selection_SkipsNegativeInfinity_EvenWhenFewerThanKRemain()
    {
        float[] logits = [float.NegativeInfinity, 1f, float.NegativeInfinity, 0.5f];
        var ids = new int[3];
        int count = TopKSelection.SelectHighest(logits, ids);
        Assert.Equal(2, count);
        Assert.Equal([1, 3], ids[..count]);
    }
}
