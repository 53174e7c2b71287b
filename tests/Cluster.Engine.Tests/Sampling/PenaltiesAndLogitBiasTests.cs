using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// OpenAI's presence and frequency penalties (on the request's own output, as vLLM applies them) and logit bias (on every
/// step, greedy included), in vLLM's order: bias, repetition penalty, frequency and presence. The logprobs a step reports
/// are log_softmax of the logits after all three, so they show each step's exact arithmetic.
/// </summary>
public class PenaltiesAndLogitBiasTests
{
    private static readonly float[] SixTokens = [1f, 2f, 3f, 0.5f, 0f, -1f];

    [Fact]
    public void FrequencyAndPresence_LowerEachGeneratedTokenByCountTimesFrequencyPlusPresence_AndLeaveThePromptAlone()
    {
        // Prompt [0, 1], then this request generated 2, 2 and 3 (three steps taken).
        int[] history = [0, 1, 2, 2, 3];
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0f, FrequencyPenalty = 0.7f, PresencePenalty = 0.4f, TopLogprobs = 6 });
        sampler.SkipSteps(3);
        var token = sampler.Sample(SixTokens, history);

        float[] expected = [1f, 2f, 3f - 0.7f * 2 - 0.4f, 0.5f - 0.7f * 1 - 0.4f, 0f, -1f];
        AssertLogprobsOf(expected, token);
        Assert.Equal(1, token.TokenId); // 2 − 1.4 − 0.4 = 1.2 falls below token 1's untouched 2
    }

    [Fact]
    public void OnlyTheStepsThisSamplerTook_CountAsOutput()
    {
        // A fresh sampler has generated nothing: the same history is all prompt, and only the repetition penalty reads it.
        int[] history = [0, 1, 2, 2, 3];
        var token = new TokenSampler(new SamplingParameters { Temperature = 0f, FrequencyPenalty = 2f, PresencePenalty = 2f, TopLogprobs = 6 })
            .Sample(SixTokens, history);
        AssertLogprobsOf(SixTokens, token);
        Assert.Equal(2, token.TokenId);
    }

    [Fact]
    public void TheBiasComesFirst_ThenTheRepetitionPenalty_ThenFrequencyAndPresence()
    {
        // Token 5: −1 + 2 (bias) = 1 > 0, so the repetition penalty divides it: 0.5; generated once: 0.5 − 0.3 − 0.2.
        // The other order (penalty on −1 first, then the bias) would give 0 − 0.3 − 0.2.
        int[] history = [4, 5];
        var sampler = new TokenSampler(new SamplingParameters
        {
            Temperature = 0f, TopLogprobs = 6, RepetitionPenalty = 2f, FrequencyPenalty = 0.3f, PresencePenalty = 0.2f,
            LogitBias = new Dictionary<int, float> { [5] = 2f, [0] = -0.25f },
        });
        sampler.SkipSteps(1);
        var token = sampler.Sample(SixTokens, history);

        float[] expected = [1f - 0.25f, 2f, 3f, 0.5f, 0f * 2f, (-1f + 2f) / 2f - 0.3f - 0.2f];
        AssertLogprobsOf(expected, token);
    }

    [Fact]
    public void ABiasOfMinus100BansTheGreedyChoice_AndPlus100ForcesAnUnlikelyTokenWhenSampling()
    {
        var banned = new TokenSampler(new SamplingParameters { Temperature = 0f, LogitBias = new Dictionary<int, float> { [2] = -100f } });
        Assert.Equal(1, banned.Sample(SixTokens, []).TokenId);

        var forced = SamplerRuns.Histogram(new SamplingParameters { Seed = 31, LogitBias = new Dictionary<int, float> { [5] = 100f } }, SixTokens, 300);
        Assert.True(forced[5] == 300, $"+100 on token 5 (logit -1 → 99): drew {SamplerRuns.Format(forced)} (counts by id)");
    }

    [Fact]
    public void ABiasOnATokenOutsideTheVocabulary_IsRefusedByName()
    {
        var sampler = new TokenSampler(new SamplingParameters { LogitBias = new Dictionary<int, float> { [6] = 1f } });
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(SixTokens, []));
        Assert.Contains("logit_bias names token id 6, outside the vocabulary of 6", error.Message);
    }

    [Fact]
    public void SameSeed_SameTokens_ARebuiltSamplerContinues_AndThePenaltiesChangeWhatIsDrawn()
    {
        float[] logits = SamplerRuns.TiedLogits(64, 6, seed: 32);
        int[] prompt = [3, 4, 5];
        var parameters = new SamplingParameters { Seed = 32, FrequencyPenalty = 1.2f, PresencePenalty = 0.6f, LogitBias = new Dictionary<int, float> { [7] = 3f } };
        int[] first = Generate(new TokenSampler(parameters), logits, prompt, [], 40);
        int[] second = Generate(new TokenSampler(parameters), logits, prompt, [], 40);
        Assert.True(first.SequenceEqual(second), $"{SamplerRuns.Format(first)} vs {SamplerRuns.Format(second)}");

        // A sampler rebuilt after 15 steps (a failover) sees the same history and continues with the same tokens.
        var rebuilt = new TokenSampler(parameters);
        rebuilt.SkipSteps(15);
        int[] continued = Generate(rebuilt, logits, prompt, first[..15], 25);
        Assert.True(first[15..].SequenceEqual(continued), $"after 15 steps: expected {SamplerRuns.Format(first[15..])}, got {SamplerRuns.Format(continued)}");

        int[] unpenalized = Generate(new TokenSampler(parameters with { FrequencyPenalty = 0f, PresencePenalty = 0f }), logits, prompt, [], 40);
        Assert.False(first.SequenceEqual(unpenalized), $"the penalties changed nothing in 40 draws: {SamplerRuns.Format(first)}");
    }

    [Fact]
    public void GreedyRepeatsLess_WithAFrequencyPenalty()
    {
        // Constant logits: greedy repeats token 2 forever; a frequency penalty of 0.6 hands over once 2's lead is used up.
        int[] plain = Generate(new TokenSampler(new SamplingParameters { Temperature = 0f }), SixTokens, [], [], 6);
        int[] penalized = Generate(new TokenSampler(new SamplingParameters { Temperature = 0f, FrequencyPenalty = 0.6f }), SixTokens, [], [], 6);
        Assert.Equal([2, 2, 2, 2, 2, 2], plain);
        // Each token's logit less 0.6 per time it was drawn: 3, 2.4 (token 2) > 2 (token 1); then 1.8 < 2; 1.8 > 1.4;
        // 1.2 < 1.4; 1.2 > 1.0 (token 0) and 0.8.
        Assert.True(penalized.SequenceEqual([2, 2, 1, 2, 1, 2]), $"frequency_penalty 0.6 drew {SamplerRuns.Format(penalized)}");
    }

    /// <summary>Samples <paramref name="steps"/> tokens, appending each to the history as the callers do.</summary>
    private static int[] Generate(TokenSampler sampler, float[] logits, int[] prompt, int[] alreadyGenerated, int steps)
    {
        var history = new List<int>(prompt);
        history.AddRange(alreadyGenerated);
        var drawn = new int[steps];
        for (int i = 0; i < steps; i++)
        {
            drawn[i] = sampler.Sample(logits, history).TokenId;
            history.Add(drawn[i]);
        }
        return drawn;
    }

    private static void AssertLogprobsOf(float[] expectedLogits, SampledToken token)
    {
        double[] reference = SamplerRuns.ReferenceLogSoftmax(expectedLogits);
        Assert.Equal(expectedLogits.Length, token.TopAlternatives.Count);
        foreach (var alternative in token.TopAlternatives)
        {
            Assert.True(Math.Abs(reference[alternative.TokenId] - alternative.Logprob) < 1e-5,
                $"token {alternative.TokenId}: expected logprob {reference[alternative.TokenId]:R} (of logits [{string.Join(", ", expectedLogits)}]), reported {alternative.Logprob:R}");
        }
    }
}
