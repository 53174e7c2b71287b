using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// A sampler told not to report log-probabilities draws exactly the tokens of one that does (greedy, seeded through
/// each filter path, with a repetition penalty), and reports none: NaN for the token and no alternatives, whatever
/// top_logprobs says.
/// </summary>
public class LogprobsOffTests
{
    public static TheoryData<string, SamplingParameters> Settings() => new()
    {
        { "greedy", new SamplingParameters { Temperature = 0f } },
        { "temperature 1, whole vocabulary", new SamplingParameters { Temperature = 1f, Seed = 11 } },
        { "temperature 0.8, top-k 40, top-p 0.9", new SamplingParameters { Temperature = 0.8f, TopK = 40, TopP = 0.9f, Seed = 12 } },
        { "top-p 0.7 over the vocabulary, min-p 0.02", new SamplingParameters { Temperature = 1.3f, TopP = 0.7f, MinP = 0.02f, Seed = 13 } },
        { "repetition penalty 1.3", new SamplingParameters { Temperature = 0.9f, RepetitionPenalty = 1.3f, Seed = 14 } },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void Turning_logprobs_off_keeps_every_token_and_reports_none(string name, SamplingParameters parameters)
    {
        var random = new Random(5); // test data only
        var withLogprobs = new TokenSampler(parameters with { Logprobs = true, TopLogprobs = 5 });
        var without = new TokenSampler(parameters with { Logprobs = false, TopLogprobs = 5 });
        var history = new List<int> { 3, 17, 17, 200 };
        for (var step = 0; step < 40; step++)
        {
            float[] logits = Enumerable.Range(0, 3000).Select(_ => (float)(random.NextDouble() * 12 - 6)).ToArray();
            var reported = withLogprobs.Sample(logits, history);
            var silent = without.Sample(logits, history);
            Assert.True(reported.TokenId == silent.TokenId, $"{name}, step {step}: token {silent.TokenId} without logprobs, {reported.TokenId} with them");
            Assert.True(float.IsFinite(reported.Logprob) && reported.TopAlternatives.Count == 5,
                $"{name}, step {step}: with logprobs on, logprob {reported.Logprob} and {reported.TopAlternatives.Count} alternatives");
            Assert.True(float.IsNaN(silent.Logprob) && silent.TopAlternatives.Count == 0,
                $"{name}, step {step}: with logprobs off, logprob {silent.Logprob} and {silent.TopAlternatives.Count} alternatives; expected NaN and none");
            history.Add(silent.TokenId);
        }
    }
}
