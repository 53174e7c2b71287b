using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>Repetition penalty (CTRL / Hugging Face): seen tokens get logit / p when positive, logit · p otherwise, once each.</summary>
public class RepetitionPenaltyTests
{
    private static double[] ReportedLogprobs(float[] logits, IReadOnlyList<int> previous, float penalty)
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0f, RepetitionPenalty = penalty, TopLogprobs = logits.Length });
        return sampler.Sample(logits, previous).TopAlternatives.OrderBy(a => a.TokenId).Select(a => (double)a.Logprob).ToArray();
    }

    private static void AssertClose(double[] expected, double[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-5,
                $"token {i}: expected logprob {expected[i]:R}, got {actual[i]:R}; all expected [{string.Join(", ", expected)}], got [{string.Join(", ", actual)}]");
        }
    }

    [Theory]
    [InlineData(2.0f, 2.0f, 1.0f)]   // positive: divided
    [InlineData(0.5f, 2.0f, 0.25f)]
    [InlineData(-2.0f, 2.0f, -4.0f)] // negative: multiplied, so it too becomes less likely
    [InlineData(0.0f, 2.0f, 0.0f)]
    [InlineData(2.0f, 1.0f, 2.0f)]   // 1 = no penalty
    [InlineData(2.0f, 0.5f, 4.0f)]   // below 1 boosts
    [InlineData(-2.0f, 0.5f, -1.0f)]
    public void Penalize_DividesPositiveAndMultipliesNegativeLogits(float logit, float penalty, float expected) =>
        Assert.Equal(expected, PenalizedLogits.Penalize(logit, penalty));

    [Fact]
    public void Penalty_AppliesToPromptAndOutputTokens_OncePerDistinctToken()
    {
        // Tokens 0 (positive) and 1 (negative) were seen, token 1 three times; 2 and 3 were not.
        float[] logits = [2.0f, -2.0f, 0.5f, 1.0f];
        int[] previous = [0, 1, 1, 0, 1];
        double[] expected = SamplerRuns.ReferenceLogSoftmax([1.0f, -4.0f, 0.5f, 1.0f]); // 2/2, -2*2, unchanged
        AssertClose(expected, ReportedLogprobs(logits, previous, 2f));
    }

    [Fact]
    public void PenaltyBelowOne_BoostsSeenTokens()
    {
        float[] logits = [2.0f, -2.0f, 0.5f];
        double[] expected = SamplerRuns.ReferenceLogSoftmax([4.0f, -1.0f, 0.5f]); // 2/0.5, -2*0.5
        AssertClose(expected, ReportedLogprobs(logits, [0, 1], 0.5f));
    }

    [Fact]
    public void Penalty_ChangesTheGreedyChoice()
    {
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0f, RepetitionPenalty = 1.2f });
        // Token 0 (3.0 -> 2.5) was said before, so token 1 (2.9) wins.
        Assert.Equal(1, sampler.Sample([3.0f, 2.9f], [0, 0]).TokenId);
        // Token 1 (2.9 -> 2.42) was said instead, so token 0 keeps the lead.
        Assert.Equal(0, sampler.Sample([3.0f, 2.9f], [1]).TokenId);
    }

    [Fact]
    public void Penalty_DoesNotModifyTheCallersLogits()
    {
        float[] logits = [2.0f, -2.0f];
        new TokenSampler(new SamplingParameters { RepetitionPenalty = 2f, Seed = 1 }).Sample(logits, [0, 1]);
        Assert.Equal([2.0f, -2.0f], logits);
    }

    [Fact]
    public void PreviousTokenOutsideVocabulary_IsRejected()
    {
        var sampler = new TokenSampler(new SamplingParameters { RepetitionPenalty = 1.1f });
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample([1f, 2f], [0, 5]));
        Assert.Contains("id 5", error.Message);
    }
}
