using Cluster.Engine.Configuration;
using Cluster.Engine.Generation;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using Cluster.Engine.Tests.Training;
using Cluster.Testing;
using Cluster.Tokenizers;
using Xunit.Abstractions;

namespace Cluster.Engine.Tests.Model;

/// <summary>
/// Weight matrices in less precision than fp32 (bf16, int8): they load and generate on both layouts, and how far greedy decoding on the shipped trained model drifts from fp32 when the weight matrices are stored in less
/// precision: printed for the record (docs/PERFORMANCE.md), and failing only on what rounding cannot explain: a step
/// fp32 is sure of flipped, or logits moved by more than half that margin (a layout, scale or rotary bug).
/// </summary>
public sealed class WeightPrecisionTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("llama", "bfloat16")]
    [InlineData("gpt2", "bfloat16")]
    [InlineData("llama", "int8")]
    [InlineData("gpt2", "int8")]
    public void Reduced_precision_weights_load_and_generate(string architecture, string weightDType)
    {
        using var dir = TinyCheckpoint.WriteTemporary(TinyModelOptions.For(architecture));
        using var model = ModelShard.Load(dir.Path, options: new EngineOptions { Device = "cpu", DType = "float32", WeightDType = weightDType });
        Assert.Equal(weightDType, model.Placement.WeightDTypeName);
        var generated = new SequenceGenerator(model)
            .Generate(TestTokens.Sequence(5, seed: 1), new SamplingParameters { Temperature = 0 }, new StopConditions { MaxNewTokens = 12 }, [])
            .ToList();
        Assert.Equal(12, generated.Count);
        Assert.All(generated, t => Assert.InRange(t.TokenId, 0, model.Config.VocabularySize - 1));
    }

    [Theory]
    [InlineData("bfloat16", 1.0)] // measured deviations far below: 0.04 logits
    [InlineData("int8", 2.0)]     // 8-bit weights and activations: 0.16 logits measured
    public void Greedy_drift_from_fp32_on_the_shipped_model_is_only_at_small_margins(string weightDType, double sureMargin)
    {
        var tokenizer = CheckpointTokenizer.Load(RepositoryFiles.DefaultModel);
        using var fp32 = ModelShard.Load(RepositoryFiles.DefaultModel, options: new EngineOptions { Device = "cpu", DType = "float32" });
        using var reduced = ModelShard.Load(RepositoryFiles.DefaultModel, options: new EngineOptions { Device = "cpu", DType = "float32", WeightDType = weightDType });
        var drift = GreedyDrift.Measure(fp32, reduced, tokenizer.Encode("And God said unto"), steps: 64);
        output.WriteLine($"{weightDType} weights vs fp32, greedy, teacher-forced: {drift}");
        Assert.True(drift.Flips.All(f => f.Margin < sureMargin),
            $"{weightDType} weights flipped a step where fp32 is sure (margin ≥ {sureMargin} logits): a layout or rotary bug, not rounding. {drift}");
        Assert.True(drift.MaxDeviation < sureMargin / 2, $"{weightDType} logits deviate from fp32 by more than rounding explains ({sureMargin / 2}): {drift}");
    }
}
