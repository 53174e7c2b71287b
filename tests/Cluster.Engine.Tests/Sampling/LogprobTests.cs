using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// Logprobs are log_softmax of the penalized logits (before temperature, top-k, top-p), matching an independent
/// double-precision computation; alternatives are the most likely tokens, descending, ties by lower id.
/// </summary>
public class LogprobTests
{
    private static float[] RandomLogits(int vocab, int seed)
    {
        var random = new Random(seed); // test data only
        return Enumerable.Range(0, vocab).Select(_ => (float)(random.NextDouble() * 30 - 15)).ToArray();
    }

    [Fact]
    public void ChosenTokenLogprob_EqualsLogSoftmax()
    {
        float[] logits = RandomLogits(32_000, 41);
        double[] reference = SamplerRuns.ReferenceLogSoftmax(logits);
        var sampler = new TokenSampler(new SamplingParameters { Seed = 41 });
        for (int step = 0; step < 20; step++)
        {
            SampledToken token = sampler.Sample(logits, []);
            Assert.True(Math.Abs(reference[token.TokenId] - token.Logprob) < 1e-4,
                $"token {token.TokenId}: reference {reference[token.TokenId]:R}, reported {token.Logprob:R}");
        }
    }

    [Fact]
    public void TopAlternatives_AreTheMostLikelyTokens_WithLogSoftmaxValues()
    {
        float[] logits = RandomLogits(50_000, 42);
        double[] reference = SamplerRuns.ReferenceLogSoftmax(logits);
        int[] expectedIds = SamplerRuns.ReferenceRanking(logits)[..20];

        SampledToken token = new TokenSampler(new SamplingParameters { Seed = 42, TopLogprobs = 20 }).Sample(logits, []);

        Assert.Equal(expectedIds, token.TopAlternatives.Select(a => a.TokenId).ToArray());
        foreach (TokenLogprob alternative in token.TopAlternatives)
        {
            Assert.True(Math.Abs(reference[alternative.TokenId] - alternative.Logprob) < 1e-4,
                $"alternative {alternative.TokenId}: reference {reference[alternative.TokenId]:R}, reported {alternative.Logprob:R}");
        }
    }

    [Fact]
    public void TopAlternatives_TiesAreOrderedByLowerId()
    {
        float[] logits = [1f, 3f, 2f, 3f, 2f, 3f];
        SampledToken token = new TokenSampler(new SamplingParameters { Temperature = 0f, TopLogprobs = 5 }).Sample(logits, []);
        Assert.Equal([1, 3, 5, 2, 4], token.TopAlternatives.Select(a => a.TokenId).ToArray());
    }

    [Fact]
    public void NoAlternativesRequested_ReturnsEmptyList() =>
        Assert.Empty(new TokenSampler(new SamplingParameters { Seed = 1 }).Sample([1f, 2f], []).TopAlternatives);

    [Fact]
    public void FewerFiniteTokensThanRequested_ReportsOnlyFiniteOnes()
    {
        float[] logits = [float.NegativeInfinity, 0f, float.NaN, 0f];
        SampledToken token = new TokenSampler(new SamplingParameters { Temperature = 0f, TopLogprobs = 4 }).Sample(logits, []);
        Assert.Equal([new TokenLogprob(1, MathF.Log(0.5f)), new TokenLogprob(3, MathF.Log(0.5f))], token.TopAlternatives);
    }

    [Fact]
    public void Logprobs_IgnoreTemperatureAndFilters()
    {
        // Greedy, top-k = 1 and T = 0.1 all make the sampler certain, but the reported logprob is still the model's.
        float[] logits = [2f, 1f, 0f];
        double expected = SamplerRuns.ReferenceLogSoftmax(logits)[0];
        foreach (var parameters in new[]
                 {
                     new SamplingParameters { Temperature = 0f },
                     new SamplingParameters { Temperature = 0.1f, Seed = 1 },
                     new SamplingParameters { TopK = 1, Seed = 1 },
                     new SamplingParameters { TopP = 0.01f, Seed = 1 },
                 })
        {
            SampledToken token = new TokenSampler(parameters).Sample(logits, []);
            Assert.Equal(0, token.TokenId);
            Assert.True(Math.Abs(expected - token.Logprob) < 1e-6, $"{parameters}: expected {expected:R}, got {token.Logprob:R}");
        }
    }

    [Fact]
    public void Logprobs_StayAccurate_ForLargeVocabularyOfNearlyEqualLogits()
    {
        // 150k tokens at ~0: every logprob is ~ -ln(150000). A float accumulator would drift visibly here.
        const int vocab = 150_000;
        float[] logits = new float[vocab];
        logits[7] = 1e-3f;
        SampledToken token = new TokenSampler(new SamplingParameters { Temperature = 0f, TopLogprobs = 1 }).Sample(logits, []);
        double expected = SamplerRuns.ReferenceLogSoftmax(logits)[7];
        Assert.Equal(7, token.TokenId);
        Assert.True(Math.Abs(expected - token.Logprob) < 1e-6, $"expected {expected:R}, got {token.Logprob:R}");
    }
}
