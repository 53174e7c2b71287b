using Cluster.Engine.Generation;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using TorchSharp;

namespace Cluster.Engine.Tests.Generation;

public sealed class SequenceGeneratorTests(TinyModelFixture models) : IClassFixture<TinyModelFixture>
{
    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void GreedyGenerationPicksTheArgmaxOfAFullRecomputeAtEveryStep(string architecture)
    {
        var model = models.Model(architecture);
        var prompt = TestTokens.Sequence(6, seed: 13);
        var generated = new SequenceGenerator(model)
            .Generate(prompt, new SamplingParameters { Temperature = 0 }, new StopConditions { MaxNewTokens = 10 }, eosTokenIds: [])
            .ToList();
        Assert.Equal(10, generated.Count);
        Assert.Equal(FinishReason.Length, generated[^1].Finish);

        var sequence = prompt.ToList();
        foreach (var (token, step) in generated.Select((t, i) => (t, i)))
        {
            using var scope = torch.NewDisposeScope();
            using var cache = model.CreateCache();
            var logits = model.Forward([SequenceChunk.ForTokens(cache, 0, sequence)]);
            var expected = (int)logits.argmax(-1).item<long>();
            Assert.True(expected == token.TokenId, $"{architecture} step {step}: generated {token.TokenId}, full recompute's argmax is {expected}");
            var logprob = logits.log_softmax(-1)[0, expected].item<float>();
            Assert.True(Math.Abs(logprob - token.Logprob) < 1e-4, $"step {step}: logprob {token.Logprob}, recomputed {logprob}");
            sequence.Add(token.TokenId);
        }
    }

    [Fact]
    public void SameSeedSameTokensDifferentSeedDifferentTokens()
    {
        var prompt = TestTokens.Sequence(4, seed: 2);
        int[] Run(ulong seed) => new SequenceGenerator(models.Llama)
            .Generate(prompt, new SamplingParameters { Temperature = 1.5f, Seed = seed }, new StopConditions { MaxNewTokens = 24 }, [])
            .Select(t => t.TokenId).ToArray();
        var a = Run(7);
        var b = Run(7);
        var c = Run(8);
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void StopsAtTheFirstEosTokenAndReportsStop()
    {
        var prompt = TestTokens.Sequence(5, seed: 4);
        var free = new SequenceGenerator(models.Llama).Generate(prompt, new SamplingParameters { Temperature = 0 }, new StopConditions { MaxNewTokens = 12 }, []).ToList();
        var eos = free[4].TokenId; // make the fifth greedy token the end of sequence
        var stopped = new SequenceGenerator(models.Llama).Generate(prompt, new SamplingParameters { Temperature = 0 }, new StopConditions { MaxNewTokens = 12 }, [eos]).ToList();
        var firstEos = free.FindIndex(t => t.TokenId == eos);
        Assert.Equal(firstEos + 1, stopped.Count);
        Assert.Equal(FinishReason.Stop, stopped[^1].Finish);
    }

    [Fact]
    public void PromptPlusMaxNewTokensBeyondTheContextIsRefusedWithBothNumbers()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            new SequenceGenerator(models.Llama).Generate(TestTokens.Sequence(200, 1), new SamplingParameters(), new StopConditions { MaxNewTokens = 100 }, []));
        Assert.Contains("Prompt of 200 tokens plus max_new_tokens 100 is 300, beyond the context length of 256", error.Message);
    }
}
