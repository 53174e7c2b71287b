using Cluster.Engine.Caching;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Testing;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Cluster.Engine.Tests.Model;

/// <summary>
/// int8 weight blocks (<see cref="EngineOptions.WeightDType"/> = int8, llama.cpp's Q8_0): logits near fp32's on both
/// layouts, a sequence's logits the same alone and in a batch (loading, generating and the greedy drift from fp32 on
/// the shipped model: <see cref="WeightPrecisionTests"/>).
/// </summary>
public sealed class Int8WeightsTests(ITestOutputHelper output)
{
    private static readonly EngineOptions Fp32 = new() { Device = "cpu", DType = "float32" };
    private static readonly EngineOptions Int8Weights = new() { Device = "cpu", DType = "float32", WeightDType = "int8" };

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Int8_weights_stay_near_fp32s_logits(string architecture)
    {
        // Tied and untied heads, biases on the Llama side: every kind of matrix goes through the blocks. A misplaced,
        // transposed or unscaled matrix moves the logits by their own size; 8-bit weights and activations move them
        // by a few percent of it.
        var options = architecture == "gpt2" ? TinyModelOptions.Gpt2 : TinyModelOptions.Llama with { AttentionBias = true };
        using var dir = TinyCheckpoint.WriteTemporary(options);
        using var exact = ModelShard.Load(dir.Path, options: Fp32);
        using var int8 = ModelShard.Load(dir.Path, options: Int8Weights);
        
        using var scope = torch.NewDisposeScope();
        var prompt = TestTokens.Sequence(40, seed: 5);
        using var exactCache = exact.CreateCache();
        using var int8Cache = int8.CreateCache();
        var expected = exact.Forward([SequenceChunk.ForTokens(exactCache, 0, prompt)], allPositions: true); // (T, V)
        var actual = int8.Forward([SequenceChunk.ForTokens(int8Cache, 0, prompt)], allPositions: true);     // (T, V)
        // Relative RMS error: a wrong matrix gives about 1 (or more), rounding to 8 bits a few percent.
        var relative = ((expected - actual).norm() / expected.norm()).item<float>();
        output.WriteLine($"{architecture}: int8 logits' RMS error relative to fp32's {relative:P2}, largest deviation {(expected - actual).abs().max().item<float>():F4}");
        Assert.True(relative < 0.1, $"{architecture}: int8 logits' RMS error is {relative:P2} of fp32's logits: more than 8-bit rounding (a few percent) explains");

    }

    [Fact]
    public void A_sequence_gets_the_same_logits_alone_and_in_a_mixed_batch()
    {
        // The kernel sums each output in one order whatever the batch: a decode next to a prefill chunk and another
        // decode at a different cache length gives the bits it gives alone.
        using var dir = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama);
        using var model = ModelShard.Load(dir.Path, options: Int8Weights);
        using var scope = torch.NewDisposeScope();
        var prompts = new[] { TestTokens.Sequence(7, seed: 1), TestTokens.Sequence(3, seed: 2), TestTokens.Sequence(11, seed: 3) };
        var alone = prompts.Select((p, s) =>
        {
            // Sequences 0 and 1 decode their last token; sequence 2 is one prefill chunk, alone as in the batch.
            using var cache = model.CreateCache();
            if (s == 2)
            {
                return model.Forward([SequenceChunk.ForTokens(cache, 0, p)]); // (1, V)
            }
            model.Forward([SequenceChunk.ForTokens(cache, 0, p[..^1])]).Dispose();
            return model.Forward([SequenceChunk.Continue(cache, [p[^1]])]); // (1, V)
        }).ToArray();
        var caches = prompts.Select(_ => model.CreateCache()).ToArray();
        try
        {
            model.Forward([SequenceChunk.ForTokens(caches[0], 0, prompts[0][..^1]), SequenceChunk.ForTokens(caches[1], 0, prompts[1][..^1])]).Dispose();
            var batched = model.Forward([
                SequenceChunk.Continue(caches[0], [prompts[0][^1]]),
                SequenceChunk.Continue(caches[1], [prompts[1][^1]]),
                SequenceChunk.ForTokens(caches[2], 0, prompts[2]),
            ]); // (3, V): each sequence's last position
            for (var s = 0; s < prompts.Length; s++)
            {
                var differing = batched[s].ne(alone[s][0]).sum().item<long>();
                Assert.True(differing == 0, $"sequence {s}: {differing} logits differ between alone and batched (max diff {(batched[s] - alone[s][0]).abs().max().item<float>():E3})");
            }
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache.Dispose();
            }
        }
    }

    [Fact]
    public void Int8_needs_a_cpu_and_fp32_activations_and_says_so()
    {
        var error = Assert.Throws<ArgumentException>(() => ComputePlacement.Resolve(new EngineOptions { Device = "cpu", DType = "bfloat16", WeightDType = "int8" }));
        Assert.Contains("WeightDType \"int8\" needs float32 activations", error.Message);
        error = Assert.Throws<ArgumentException>(() => ComputePlacement.Resolve(new EngineOptions { Device = "cpu", WeightDType = "int4" }));
        Assert.Contains("is not one of auto, float32, bfloat16, int8", error.Message);
        Assert.Equal(ScalarType.Int8, ComputePlacement.Resolve(new EngineOptions { Device = "cpu", DType = "float32", WeightDType = "INT8" }).WeightDType);
    }
}
