using Cluster.Engine.Configuration;
using Cluster.PeerBenchmark.Gguf;
using Cluster.PeerBenchmark.Runners;
using Cluster.Testing;

namespace Cluster.PeerBenchmark.Tests;

/// <summary>
/// A GGUF written from a tiny Hugging Face checkpoint loads in llama.cpp and decodes to the same greedy tokens as our
/// engine on the original checkpoint (fp32 weights, f32 KV cache). A wrong q/k permutation, a wrong dimension order,
/// a missing tied head or a wrong metadata key changes the logits and so the tokens.
/// </summary>
public sealed class PeerAgreementTests
{
    private const int NewTokens = 24;

    public static TheoryData<string, TinyModelOptions> Models => new()
    {
        { "grouped-query attention (4 heads over 2 KV heads)", TinyModelOptions.Llama },
        { "tied embeddings, multi-head", TinyModelOptions.Llama with { KeyValueHeadCount = 4, TieWordEmbeddings = true, Seed = 7 } },
        { "GQA, tied, head_dim not width/heads, rope_theta 500000", TinyModelOptions.Llama with { HeadDimension = 32, TieWordEmbeddings = true, RopeTheta = 500000, Seed = 9 } },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void LlamaCppOnTheGgufGivesOurGreedyTokens(string what, TinyModelOptions options)
    {
        using var dir = TinyCheckpoint.WriteTemporary(options);
        var gguf = Path.Combine(dir.Path, "model-f32.gguf");
        LlamaGgufConverter.Convert(dir.Path, gguf, GgufWeightType.F32);
        using var ours = EngineRunner.Load("ours", dir.Path, new EngineOptions { Device = "cpu", DType = "float32", CpuThreads = 2 });
        using var peer = LlamaCppRunner.Load("llama.cpp", gguf, LlamaCppSettings.F32KvCache, threads: 2);
        Assert.Equal(options.VocabularySize, peer.VocabularySize);

        foreach (var prompt in Prompts(options, count: 3, length: 6))
        {
            var expected = ours.Run([prompt], NewTokens).Tokens[0];
            var actual = peer.Run([prompt], NewTokens).Tokens[0];
            Assert.True(expected.SequenceEqual(actual),
                $"{what}: prompt [{string.Join(", ", prompt)}]\n ours      [{string.Join(", ", expected)}]\n llama.cpp [{string.Join(", ", actual)}]");
        }
    }

    [Fact]
    public void LockstepSequencesKeepTheirSoloTokensWithAnF32KvCache()
    {
        var options = TinyModelOptions.Llama with { Seed = 21 };
        using var dir = TinyCheckpoint.WriteTemporary(options);
        var gguf = Path.Combine(dir.Path, "model-f32.gguf");
        LlamaGgufConverter.Convert(dir.Path, gguf, GgufWeightType.F32);
        using var peer = LlamaCppRunner.Load("llama.cpp", gguf, LlamaCppSettings.F32KvCache, threads: 2);

        // Different prompt lengths, so the sequences sit at different positions in every step.
        var prompts = Prompts(options, count: 5, length: 3).Select((p, i) => p.Concat(Prompts(options with { Seed = 99 }, 1, i)[0]).ToArray()).ToList();
        var together = peer.Run(prompts, NewTokens).Tokens;
        for (var i = 0; i < prompts.Count; i++)
        {
            var alone = peer.Run([prompts[i]], NewTokens).Tokens[0];
            Assert.True(alone.SequenceEqual(together[i]),
                $"sequence {i} (prompt length {prompts[i].Length}):\n alone    [{string.Join(", ", alone)}]\n lockstep [{string.Join(", ", together[i])}]");
        }
    }

    [Fact]
    public void LlamaCppInAChildProcessGivesTheSameTokensAsInProcessAndReportsItsErrors()
    {
        // The benchmark runs llama.cpp in child processes (each runtime under its own OpenMP policy): the pipe must
        // carry the same lockstep run, and a failure in the child must come back as an error naming it, not a hang.
        var options = TinyModelOptions.Llama with { Seed = 13 };
        using var dir = TinyCheckpoint.WriteTemporary(options);
        var gguf = Path.Combine(dir.Path, "model-f32.gguf");
        LlamaGgufConverter.Convert(dir.Path, gguf, GgufWeightType.F32);
        var prompts = Prompts(options, count: 3, length: 5);
        using var inProcess = LlamaCppRunner.Load("in process", gguf, LlamaCppSettings.F32KvCache, threads: 2);
        using var child = ChildProcessRunner.Start("child", gguf, LlamaCppSettings.F32KvCache, threads: 2, waitPolicy: null);

        var expected = inProcess.Run(prompts, NewTokens);
        var actual = child.Run(prompts, NewTokens);
        for (var i = 0; i < prompts.Count; i++)
        {
            Assert.True(expected.Tokens[i].SequenceEqual(actual.Tokens[i]),
                $"sequence {i}:\n in process [{string.Join(", ", expected.Tokens[i])}]\n child      [{string.Join(", ", actual.Tokens[i])}]");
        }
        Assert.True(actual.DecodeSteps == NewTokens - 1 && actual.DecodeSeconds > 0 && child.PrefillSeconds(prompts[0]) > 0,
            $"child timings: {actual.DecodeSteps} decode steps in {actual.DecodeSeconds} s");

        var error = Assert.Throws<InvalidOperationException>(() => child.Run([[options.VocabularySize + 5]], NewTokens));
        Assert.Contains("child", error.Message);
        Assert.True(child.Run([prompts[0]], 2).Tokens[0].Length == 2, "The child must keep serving after a failed request.");
    }

    [Theory]
    [InlineData(GgufWeightType.F16, "float32", 1)]
    [InlineData(GgufWeightType.Q8_0, "int8", 4)]
    public void A_reduced_precision_gguf_loads_and_starts_as_ours(GgufWeightType weights, string ourWeights, int leading)
    {
        // f16 rounds every weight, so ours in fp32 is compared; Q8_0 holds the integers and scales our int8 blocks hold
        // (GgufWriter.Encode quantizes with our Int8Matrix), summed in other orders. Either may part at near-ties, so
        // this checks that the file loads and that the first tokens agree (their margins on these random models are
        // wide): a wrong block layout, scale or sign on either side changes the logits entirely.
        var options = TinyModelOptions.Llama with { TieWordEmbeddings = true, Seed = 5 };
        using var dir = TinyCheckpoint.WriteTemporary(options);
        var gguf = Path.Combine(dir.Path, $"model-{weights}.gguf");
        LlamaGgufConverter.Convert(dir.Path, gguf, weights);
        using var ours = EngineRunner.Load("ours", dir.Path, new EngineOptions { Device = "cpu", DType = "float32", CpuThreads = 2, WeightDType = ourWeights });
        using var peer = LlamaCppRunner.Load("llama.cpp", gguf, LlamaCppSettings.F32KvCache, threads: 2);
        var prompt = Prompts(options, 1, 6)[0];
        var expected = ours.Run([prompt], NewTokens).Tokens[0];
        var actual = peer.Run([prompt], NewTokens).Tokens[0];
        var agreeing = expected.Zip(actual).TakeWhile(p => p.First == p.Second).Count();
        Assert.True(agreeing >= leading, $"ours ({ourWeights}) and llama.cpp ({weights}) agree on the first {agreeing} tokens, fewer than {leading}; ours [{string.Join(", ", expected)}], llama.cpp [{string.Join(", ", actual)}]");
    }

    private static List<int[]> Prompts(TinyModelOptions options, int count, int length)
    {
        var random = new DeterministicRandom(options.Seed + 1000);
        return Enumerable.Range(0, count)
            .Select(_ => Enumerable.Range(0, length).Select(_ => 3 + (int)(random.NextUInt64() % (ulong)(options.VocabularySize - 3))).ToArray())
            .ToList();
    }
}
