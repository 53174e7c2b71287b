using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// Min-p (vLLM's): after temperature, drop every token whose probability is below min_p times the most likely
/// token's; top-k and top-p then see only the survivors; logprobs stay those of the raw (penalized) logits.
/// </summary>
public class MinPTests
{
    // Probabilities 0.1, 0.4, 0.2, 0.2, 0.1: relative to the most likely (id 1) 0.25, 1, 0.5, 0.5, 0.25.
    private static readonly float[] FiveTokens = SamplerRuns.LogitsFor(0.1, 0.4, 0.2, 0.2, 0.1);

    [Theory]
    [InlineData(0.6f, new[] { 1 })]             // 0.5 < 0.6
    [InlineData(0.3f, new[] { 1, 2, 3 })]       // 0.25 < 0.3 <= 0.5
    [InlineData(0.2f, new[] { 0, 1, 2, 3, 4 })] // every ratio >= 0.2
    [InlineData(0f, new[] { 0, 1, 2, 3, 4 })]   // off
    public void Sampling_DrawsExactlyTheTokensAtOrAboveMinPTimesTheTop(float minP, int[] expected)
    {
        var parameters = new SamplingParameters { Seed = 21, MinP = minP };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, FiveTokens, 4000));
        Assert.True(expected.SequenceEqual(support), $"min_p {minP}: expected {SamplerRuns.Format(expected)}, drew {SamplerRuns.Format(support)}");
    }

    [Fact]
    public void MinPOne_KeepsExactlyTheTokensTiedWithTheTop()
    {
        // Equal logits give weight exactly 1, so ">= min_p" keeps all of them and nothing else.
        float[] logits = [1f, 3f, 2f, 3f, 2.999f];
        var parameters = new SamplingParameters { Seed = 22, MinP = 1f };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, logits, 2000));
        Assert.True(support.SequenceEqual([1, 3]), $"drew {SamplerRuns.Format(support)}");
    }

    [Fact]
    public void MinP_IsAppliedAfterTemperature()
    {
        // At T = 2 the ratios become their square roots: 0.5, 1, 0.707, 0.707, 0.5. Before temperature, min_p 0.6
        // would keep only id 1 (ratios 0.25, 1, 0.5, 0.5, 0.25).
        var parameters = new SamplingParameters { Seed = 23, MinP = 0.6f, Temperature = 2f };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, FiveTokens, 4000));
        Assert.True(support.SequenceEqual([1, 2, 3]), $"drew {SamplerRuns.Format(support)}");
    }

    [Theory]
    [InlineData(0.45f, new[] { 1 })]    // renormalized over min-p's survivors 1, 2, 3 (0.5, 0.25, 0.25): 0.5 >= 0.45
    [InlineData(0.7f, new[] { 1, 2 })]  // 0.75 >= 0.7; without renormalizing, 0.6 < 0.7 would keep id 3 too
    [InlineData(0.8f, new[] { 1, 2, 3 })]
    public void TopP_IsRenormalizedOverTheMinPSurvivors(float topP, int[] expected)
    {
        var parameters = new SamplingParameters { Seed = 24, MinP = 0.3f, TopP = topP };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, FiveTokens, 4000));
        Assert.True(expected.SequenceEqual(support), $"top_p {topP} after min_p 0.3: expected {SamplerRuns.Format(expected)}, drew {SamplerRuns.Format(support)}");
    }

    [Theory]
    [InlineData(2, 0.3f, 1f, new[] { 1, 2 })]      // top-k is the tighter of the two
    [InlineData(4, 0.3f, 1f, new[] { 1, 2, 3 })]   // min-p is the tighter of the two
    [InlineData(4, 0.3f, 0.7f, new[] { 1, 2 })]    // top-p renormalized over both filters' survivors, as above
    public void TopK_AndMinP_KeepTheIntersectionOfTheirPrefixes(int topK, float minP, float topP, int[] expected)
    {
        var parameters = new SamplingParameters { Seed = 25, TopK = topK, MinP = minP, TopP = topP };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, FiveTokens, 4000));
        Assert.True(expected.SequenceEqual(support), $"top_k {topK}, min_p {minP}, top_p {topP}: expected {SamplerRuns.Format(expected)}, drew {SamplerRuns.Format(support)}");
    }

    [Theory]
    [InlineData(1f)]
    [InlineData(0.9f)]
    public void Sampling_LargeVocabulary_DrawsExactlyTheMinPSetOfTheScaledDistribution(float topP)
    {
        // Four strong tokens over 50k weak ones; the expected set is computed here from the definition.
        const float temperature = 0.8f;
        const float minP = 0.4f;
        var random = new Random(62); // test data only
        float[] logits = Enumerable.Range(0, 50_000).Select(_ => (float)(random.NextDouble() * -2)).ToArray();
        (logits[49_000], logits[123], logits[7000], logits[3]) = (10f, 9.5f, 9.5f, 9f);

        double max = logits.Max();
        int[] expected = Enumerable.Range(0, logits.Length).Where(id => Math.Exp((logits[id] - max) / temperature) >= minP).ToArray();
        Assert.True(expected.SequenceEqual([123, 7000, 49_000]), $"test data: the min-p set is {SamplerRuns.Format(expected)}"); // id 3's ratio is 0.29

        var parameters = new SamplingParameters { Seed = 26, Temperature = temperature, MinP = minP, TopP = topP };
        int[] support = SamplerRuns.Support(SamplerRuns.Histogram(parameters, logits, 400));
        // Each survivor has probability > 0.2 among the three (and top_p 0.9 needs all three: 1 + 0.535 < 0.9 · 2.07).
        Assert.True(expected.SequenceEqual(support), $"top_p {topP}: expected {SamplerRuns.Format(expected)}, drew {SamplerRuns.Format(support)}");
    }

    [Fact]
    public void Logprobs_AreThoseOfTheRawLogits_NotOfTheMinPSurvivors()
    {
        float[] logits = FiveTokens;
        double[] reference = SamplerRuns.ReferenceLogSoftmax(logits);
        var sampler = new TokenSampler(new SamplingParameters { Seed = 27, MinP = 0.3f, TopLogprobs = 5 });
        for (int step = 0; step < 20; step++)
        {
            SampledToken token = sampler.Sample(logits, []);
            Assert.True(Math.Abs(reference[token.TokenId] - token.Logprob) < 1e-5,
                $"token {token.TokenId}: reference {reference[token.TokenId]:R}, reported {token.Logprob:R}");
            Assert.True(token.TopAlternatives.Count == 5, $"{token.TopAlternatives.Count} alternatives; min-p must not hide the dropped ones");
        }
    }

    [Fact]
    public void Greedy_IgnoresMinP()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0f, MinP = 1f });
        Assert.Equal(1, sampler.Sample(FiveTokens, []).TokenId);
    }

    [Fact]
    public void SameSeed_GivesSameTokens_AndARebuiltSamplerThatSkipsContinuesTheStream()
    {
        float[] logits = SamplerRuns.TiedLogits(2000, 12, seed: 28);
        var parameters = new SamplingParameters { Seed = 28, Temperature = 1.2f, MinP = 0.2f, TopP = 0.95f };
        int[] first = Draw(new TokenSampler(parameters), logits, 30);
        int[] second = Draw(new TokenSampler(parameters), logits, 30);
        Assert.True(first.SequenceEqual(second), $"{SamplerRuns.Format(first)} vs {SamplerRuns.Format(second)}");

        var rebuilt = new TokenSampler(parameters);
        rebuilt.SkipSteps(12);
        int[] continued = Draw(rebuilt, logits, 18);
        Assert.True(first[12..].SequenceEqual(continued), $"after skipping 12: expected {SamplerRuns.Format(first[12..])}, got {SamplerRuns.Format(continued)}");

        // The filter is live: without it the same seed draws tokens min-p drops (ratio < 0.2 at T = 1.2).
        int[] unfiltered = Draw(new TokenSampler(parameters with { MinP = 0f }), logits, 30);
        Assert.False(first.SequenceEqual(unfiltered), $"min_p 0.2 and 0 drew the same 30 tokens {SamplerRuns.Format(first)}");
    }

    private static int[] Draw(TokenSampler sampler, float[] logits, int steps) =>
        Enumerable.Range(0, steps).Select(_ => sampler.Sample(logits, []).TokenId).ToArray();
}
