using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>Top-p keeps the shortest most-probable prefix reaching p (ties by lower id, at least one token); p = 1 keeps everything.</summary>
public class TopPTests
{
    // Probabilities 0.1, 0.4, 0.2, 0.2, 0.1. Ranked: 1 (0.4), 2 (0.2), 3 (0.2, tie: after 2), 0 (0.1), 4 (0.1).
    private static readonly float[] FiveTokens = SamplerRuns.LogitsFor(0.1, 0.4, 0.2, 0.2, 0.1);

    [Theory]
    [InlineData(0.3f, new[] { 1 })]          // 0.4 >= 0.3
    [InlineData(0.5f, new[] { 1, 2 })]       // 0.6 >= 0.5; id 3 ties with id 2 but is not needed
    [InlineData(0.7f, new[] { 1, 2, 3 })]    // 0.8 >= 0.7
    [InlineData(0.85f, new[] { 0, 1, 2, 3 })] // 0.9 >= 0.85; id 0 ties with id 4 and wins by lower id
    [InlineData(0.95f, new[] { 0, 1, 2, 3, 4 })]
    public void Sampling_DrawsExactlyTheNucleus(float topP, int[] expected)
    {
        var parameters = new SamplingParameters { Seed = 11, TopP = topP };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, FiveTokens, 4000));
        Assert.Equal(expected, support);
    }

    [Theory]
    [InlineData(0.45f, new[] { 1 })]       // without renormalizing, 0.4 < 0.45 would also keep id 2
    [InlineData(0.7f, new[] { 1, 2 })]     // without renormalizing, 0.6 < 0.7 would also keep id 3
    [InlineData(0.8f, new[] { 1, 2, 3 })]
    public void Sampling_NucleusAfterTopK_IsRenormalizedOverTheTopK(float topP, int[] expected)
    {
        // Top-3 keeps ids 1, 2, 3 (mass 0.8); renormalized they are 0.5, 0.25, 0.25, cumulative 0.5, 0.75, 1.
        var parameters = new SamplingParameters { Seed = 12, TopK = 3, TopP = topP };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, FiveTokens, 4000));
        Assert.Equal(expected, support);
    }

    [Theory]
    [InlineData(0.5f)]
    [InlineData(0.8f)]
    [InlineData(0.9f)]
    public void Sampling_LargeVocabulary_DrawsExactlyTheNucleusOfTheScaledDistribution(float topP)
    {
        // A model-like shape: four strong tokens over 50k weak ones. The sampler prunes weak tokens before ranking;
        // the drawn support must still equal the nucleus computed here by a full sort at the same temperature.
        const float temperature = 0.8f;
        var random = new Random(61); // test data only
        float[] logits = Enumerable.Range(0, 50_000).Select(_ => (float)(random.NextDouble() * -2)).ToArray();
        (logits[49_000], logits[123], logits[7000], logits[3]) = (10f, 9.5f, 9.5f, 9f);

        double max = logits.Max();
        double[] weights = logits.Select(l => Math.Exp((l - max) / temperature)).ToArray();
        var expected = new List<int>();
        double cumulative = 0;
        foreach (int id in SamplerRuns.ReferenceRanking(logits))
        {
            expected.Add(id);
            cumulative += weights[id];
            if (cumulative >= topP * weights.Sum())
                break;
        }
        expected.Sort();

        // Every nucleus token has probability > 0.1 here, so 400 draws miss one with probability below 1e-18.
        var parameters = new SamplingParameters { Seed = 16, TopP = topP, Temperature = temperature };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, logits, 400));
        Assert.Equal(expected, support);
    }

    [Fact]
    public void Sampling_EqualProbabilities_KeepsTheLowestIds()
    {
        float[] logits = new float[8]; // eight tokens at 1/8
        var parameters = new SamplingParameters { Seed = 13, TopP = 0.5f }; // exactly four tokens reach 0.5
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, logits, 2000));
        Assert.Equal([0, 1, 2, 3], support);
    }

    [Fact]
    public void Sampling_TinyP_KeepsAtLeastTheMostProbableToken()
    {
        var parameters = new SamplingParameters { Seed = 14, TopP = 1e-6f };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, FiveTokens, 200));
        Assert.Equal([1], support);
    }

    [Fact]
    public void Sampling_POfOne_CanDrawTinyProbabilityTokens()
    {
        // Token 2 has probability 5e-4: expected about 10 times in 20k draws; p slightly below 1 would drop it.
        float[] logits = SamplerRuns.LogitsFor(0.6, 0.3995, 0.0005);
        int[] kept = SamplerRuns.Histogram(new SamplingParameters { Seed = 15, TopP = 1f }, logits, 20_000);
        Assert.True(kept[2] > 0, $"token with p = 5e-4 never drawn in 20000 draws with top_p = 1; counts {SamplerRuns.Format(kept)}");

        int[] dropped = SamplerRuns.Histogram(new SamplingParameters { Seed = 15, TopP = 0.999f }, logits, 20_000);
        Assert.True(dropped[2] == 0, $"top_p = 0.999 should drop the p = 5e-4 token; counts {SamplerRuns.Format(dropped)}");
    }

    [Fact]
    public void Draw_LargestUniform_LandsOnTheLastTokenWithWeight()
    {
        // With u just below 1 the inverse-transform draw must land on the small tail token (not stop early, not fall
        // on the zero-weight token after it): tail tokens kept by p = 1 are reachable.
        double[] weights = [1.0, 0.5, 1e-6, 0.0];
        double total = weights.Sum();
        Assert.Equal(2, CategoricalDraw.PickById(weights, total, 1 - Math.Pow(2, -53)));
        Assert.Equal(12, CategoricalDraw.Pick([10, 11, 12, 13], weights, 1 - Math.Pow(2, -53)));
    }

    [Theory]
    [InlineData(0.1f)]
    [InlineData(0.5f)]
    [InlineData(0.9f)]
    [InlineData(0.999f)]
    public void Selection_MatchesAFullSortPrefix_OnTiedLogits(float topP)
    {
        float[] logits = SamplerRuns.TiedLogits(vocab: 2000, distinctValues: 9, seed: (int)(topP * 1000));
        double max = logits.Max();
        double[] weightsById = logits.Select(l => Math.Exp(l - max)).ToArray();
        double total = weightsById.Sum();

        int[] ranked = SamplerRuns.ReferenceRanking(logits);
        var expected = new List<int>();
        double cumulative = 0;
        foreach (int id in ranked)
        {
            expected.Add(id);
            cumulative += weightsById[id];
            if (cumulative >= topP * total)
                break;
        }

        int[] candidates = Enumerable.Range(0, logits.Length).ToArray();
        var keptIds = new int[logits.Length];
        var keptWeights = new double[logits.Length];
        int kept = TopPSelection.SelectFromUnsorted(logits, candidates, weightsById, total, topP, keptIds, keptWeights);
        Assert.Equal(expected, keptIds[..kept]);
        Assert.Equal(expected.Select(id => weightsById[id]), keptWeights[..kept]);
    }
}
