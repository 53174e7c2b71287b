using Cluster.Engine.Model;
using Cluster.Engine.Tests.Reference;
using Cluster.Testing;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Tests.Model;

/// <summary>
/// The engine (TorchSharp, fp32) against the independent double-precision reference in Reference/, on tiny
/// checkpoints that cover each family's variants.
/// </summary>
public sealed class ReferenceAgreementTests
{
    // fp32 engine vs double reference: errors of ~1e-6 relative per op, accumulated over 4 layers and a 1024-way head.
    private const double Tolerance = 2e-4;

    public static TheoryData<string> Variants => new()
    {
        "llama-gqa-untied",
        "llama-tied-attention-bias-headdim",
        "llama3-rope-scaling",
        "qwen2-biases",
        "mistral",
        "gpt2",
        "llama-bf16-sharded",
        "gpt2-f16",
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void EngineLogitsMatchTheReferenceForwardPass(string variant)
    {
        var options = Options(variant);
        using var dir = TinyCheckpoint.WriteTemporary(options);
        using var model = ModelShard.Load(dir.Path);
        // 20 tokens: every linear layer on the decode kernel's rows; 45: past its crossover (fp32 weights on AVX-512 run
        // the packed product there, a whole 8-row tile and a cut one).
        foreach (var length in new[] { 20, LinearCrossover.Float32Rows + 13 })
        {
            var tokens = TestTokens.Sequence(length, seed: variant.Length);
            var expected = ReferenceModel.Forward(dir.Path, tokens); // [T][V], double
            using var scope = torch.NewDisposeScope();
            using var cache = model.CreateCache();
            var actual = model.Forward([SequenceChunk.ForTokens(cache, 0, tokens)], allPositions: true); // (T, V)
            var reference = torch.tensor(expected.SelectMany(r => r).ToArray(), [expected.Length, expected[0].Length], ScalarType.Float64);
            TensorAssert.Close(reference, actual, Tolerance, $"{variant}, {length} tokens");
        }
    }

    private static TinyModelOptions Options(string variant) => variant switch
    {
        "llama-gqa-untied" => TinyModelOptions.Llama,
        "llama-tied-attention-bias-headdim" => TinyModelOptions.Llama with { TieWordEmbeddings = true, AttentionBias = true, HeadDimension = 24 },
        "llama3-rope-scaling" => TinyModelOptions.Llama with { RopeTheta = 500000, Llama3RopeScaling = (8.0, 1.0, 4.0, 16), MaxPositionEmbeddings = 128 },
        "qwen2-biases" => TinyModelOptions.Llama with { ModelType = "qwen2", KeyValueHeadCount = 1, TieWordEmbeddings = true },
        "mistral" => TinyModelOptions.Llama with { ModelType = "mistral" },
        "gpt2" => TinyModelOptions.Gpt2,
        "llama-bf16-sharded" => TinyModelOptions.Llama with { DType = DiskDType.BF16, ShardCount = 3 },
        "gpt2-f16" => TinyModelOptions.Gpt2 with { DType = DiskDType.F16 },
        _ => throw new ArgumentException(variant),
    };
}
