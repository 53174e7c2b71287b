using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// The sampler's steps as <see cref="SamplerView"/> explains them: each filter's survivors on logits whose answer is
/// known, and a seeded <see cref="TokenSampler"/> that only ever draws from the explained distribution, at its rates.
/// </summary>
public sealed class SamplerViewTests
{
    // Probabilities at temperature 1: 0.5, 0.25, 0.125, 0.0625, then 0.0625 spread over 60 tokens.
    private static float[] Logits()
    {
        var logits = new float[64];
        logits[0] = MathF.Log(0.5f);
        logits[1] = MathF.Log(0.25f);
        logits[2] = MathF.Log(0.125f);
        logits[3] = MathF.Log(0.0625f);
        for (var i = 4; i < 64; i++)
        {
            logits[i] = MathF.Log(0.0625f / 60);
        }
        return logits;
    }

    [Theory]
    [InlineData(0f, 0, 1f, 64, 64, 64)]
    [InlineData(0.2f, 0, 1f, 3, 3, 3)] // min-p 0.2 of the top token's 0.5 keeps 0.5, 0.25 and 0.125
    [InlineData(0f, 10, 1f, 64, 10, 10)]
    [InlineData(0f, 0, 0.8f, 64, 64, 3)] // 0.5 + 0.25 < 0.8 <= 0.875
    [InlineData(0f, 2, 0.5f, 64, 2, 1)] // renormalised over the top 2: 0.667 >= 0.5
    public void EachFilterKeepsWhatItsRuleSays(float minP, int topK, float topP, int afterMinP, int afterTopK, int afterTopP)
    {
        var view = SamplerView.Explain(Logits(), [], new SamplingParameters { Temperature = 1f, MinP = minP, TopK = topK, TopP = topP }, top: 3, maxDrawnFrom: 100);
        Assert.Equal((64, afterMinP, afterTopK, afterTopP), (view.FiniteTokens, view.KeptAfterMinP, view.KeptAfterTopK, view.KeptAfterTopP));
        Assert.Equal(afterTopP, view.DrawnFrom.Count);
        Assert.True(Math.Abs(view.DrawnFrom.Sum(t => t.Probability) - 1) < 1e-9, $"drawn-from probabilities sum to {view.DrawnFrom.Sum(t => t.Probability)}");
        Assert.Equal([0, 1, 2], view.AfterPenalty.Select(t => t.TokenId));
        Assert.True(Math.Abs(view.AfterPenalty[0].Probability - 0.5) < 1e-6, $"after the penalty token 0 has {view.AfterPenalty[0].Probability}");
    }

    [Fact]
    public void TheSeededSamplerDrawsOnlyFromTheExplainedDistributionAtItsRates()
    {
        var parameters = new SamplingParameters { Temperature = 1.5f, TopK = 20, TopP = 0.9f, RepetitionPenalty = 1.3f };
        int[] previous = [0, 5];
        var view = SamplerView.Explain(Logits(), previous, parameters, top: 5, maxDrawnFrom: 100);
        var expected = view.DrawnFrom.ToDictionary(t => t.TokenId, t => t.Probability);
        var counts = new Dictionary<int, int>();
        const int draws = 4000;
        for (var seed = 0UL; seed < draws; seed++)
        {
            var token = new TokenSampler(parameters with { Seed = seed }).Sample(Logits(), previous).TokenId;
            Assert.True(expected.ContainsKey(token), $"seed {seed} drew token {token}, which the view says cannot be drawn (kept: {string.Join(", ", expected.Keys)})");
            counts[token] = counts.GetValueOrDefault(token) + 1;
        }
        foreach (var (id, probability) in expected)
        {
            var rate = counts.GetValueOrDefault(id) / (double)draws;
            Assert.True(Math.Abs(rate - probability) < 0.03, $"token {id}: drawn at {rate:F3}, the view says {probability:F3}");
        }
        Assert.True(view.AfterTemperature[0].Probability < view.AfterPenalty[0].Probability, "a temperature above 1 should flatten the top token's probability");
    }

    [Fact]
    public void GreedyDrawsTheTopTokenWithCertainty()
    {
        var view = SamplerView.Explain(Logits(), [], new SamplingParameters { Temperature = 0f }, top: 3, maxDrawnFrom: 100);
        Assert.True(view.Greedy && view.DrawnFrom is [{ TokenId: 0, Probability: 1 }], $"greedy view: {string.Join(", ", view.DrawnFrom)}");
    }
}
