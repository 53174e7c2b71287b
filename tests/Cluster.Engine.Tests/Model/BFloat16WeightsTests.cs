using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Testing;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Tests.Model;

/// <summary>
/// bf16 weight matrices under fp32 activations (<see cref="EngineOptions.WeightDType"/>): exactness on weights that are
/// bf16 already (loading, generating and the drift from fp32 on the shipped model: <see cref="WeightPrecisionTests"/>).
/// </summary>
public sealed class BFloat16WeightsTests
{
    private static readonly EngineOptions Fp32 = new() { Device = "cpu", DType = "float32" };
    private static readonly EngineOptions Bf16Weights = new() { Device = "cpu", DType = "float32", WeightDType = "bfloat16" };

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void On_a_bf16_checkpoint_bf16_weights_give_fp32s_logits_within_rounding_on_both_paths(string architecture)
    {
        // The checkpoint's weights are bf16, so fp32 loading widens them exactly: on the kernel's path (a prompt
        // and decode steps up to its crossover) bf16 weights must give fp32's logits within fp32 rounding, and any
        // more is a layout bug (a transposed or misplaced matrix, a bias in the wrong place, a head that is not
        // the embedding). A prompt past the crossover runs libtorch's bf16 path, which also rounds the
        // activations to bf16: there the bound is relative to the logits' size.
        var options = (architecture == "gpt2" ? TinyModelOptions.Gpt2 : TinyModelOptions.Llama with { TieWordEmbeddings = true, AttentionBias = true })
            with { DType = DiskDType.BF16 };
        using var dir = TinyCheckpoint.WriteTemporary(options);
        using var exact = ModelShard.Load(dir.Path, options: Fp32);
        using var bf16 = ModelShard.Load(dir.Path, options: Bf16Weights);
        Assert.Equal(ScalarType.BFloat16, bf16.Placement.WeightDType);
        Assert.Equal(ScalarType.Float32, bf16.Placement.DType);
        using var scope = torch.NewDisposeScope();

        var shortPrompt = TestTokens.Sequence(LinearCrossover.BFloat16Rows, seed: 3);
        using var exactCache = exact.CreateCache();
        using var bf16Cache = bf16.CreateCache();
        var expected = exact.Forward([SequenceChunk.ForTokens(exactCache, 0, shortPrompt)]);  // (1, V)
        var actual = bf16.Forward([SequenceChunk.ForTokens(bf16Cache, 0, shortPrompt)]);      // (1, V)
        TensorAssert.Close(expected, actual, 1e-4, $"{architecture} prefill of {shortPrompt.Length} tokens (kernel path)");
        for (var step = 0; step < 6; step++)
        {
            var next = (int)expected.argmax(-1).item<long>();
            expected = exact.Forward([SequenceChunk.Continue(exactCache, [next])]);         // (1, V)
            actual = bf16.Forward([SequenceChunk.Continue(bf16Cache, [next])]);             // (1, V)
            TensorAssert.Close(expected, actual, 1e-4, $"{architecture} decode step {step} (kernel path, fp32 products of the same bf16 values)");
        }

        var longPrompt = TestTokens.Sequence(LinearCrossover.BFloat16Rows + 12, seed: 4);
        using var exactLong = exact.CreateCache();
        using var bf16Long = bf16.CreateCache();
        expected = exact.Forward([SequenceChunk.ForTokens(exactLong, 0, longPrompt)], allPositions: true); // (T, V)
        actual = bf16.Forward([SequenceChunk.ForTokens(bf16Long, 0, longPrompt)], allPositions: true);     // (T, V)
        var scale = expected.abs().max().item<float>();
        TensorAssert.Close(expected, actual, 0.05 * scale, $"{architecture} prefill of {longPrompt.Length} tokens (libtorch bf16 path, logits up to {scale:F2})");
    }

    [Fact]
    public void A_weight_dtype_that_does_not_fit_the_activations_fails_naming_the_option()
    {
        var error = Assert.Throws<ArgumentException>(() => ComputePlacement.Resolve(new EngineOptions { Device = "cpu", DType = "bfloat16", WeightDType = "float32" }));
        Assert.Contains("WeightDType \"float32\"", error.Message);
        error = Assert.Throws<ArgumentException>(() => ComputePlacement.Resolve(new EngineOptions { Device = "cpu", WeightDType = "int4" }));
        Assert.Contains("WeightDType \"int4\" is not one of auto, float32, bfloat16", error.Message);
    }
}
