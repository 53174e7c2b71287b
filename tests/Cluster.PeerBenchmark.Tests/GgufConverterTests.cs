using System.Text.Json.Nodes;
using Cluster.PeerBenchmark.Gguf;
using Cluster.PeerBenchmark.Runners;
using Cluster.Testing;

namespace Cluster.PeerBenchmark.Tests;

/// <summary>The converter's layout rules and errors, and the metadata as llama.cpp reads it back.</summary>
public sealed class GgufConverterTests
{
    [Theory]
    [InlineData("hidden_size")]
    [InlineData("num_hidden_layers")]
    [InlineData("num_attention_heads")]
    [InlineData("intermediate_size")]
    [InlineData("vocab_size")]
    [InlineData("max_position_embeddings")]
    [InlineData("rms_norm_eps")]
    public void AMissingConfigKeyIsNamed(string key)
    {
        using var dir = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama);
        EditConfig(dir.Path, c => c.Remove(key));
        var error = Assert.Throws<GgufConversionException>(() => LlamaGgufConverter.Convert(dir.Path, Path.Combine(dir.Path, "x.gguf"), GgufWeightType.F32));
        Assert.Contains($"\"{key}\"", error.Message);
        Assert.Contains("config.json", error.Message);
        Assert.False(File.Exists(Path.Combine(dir.Path, "x.gguf")), "no GGUF may be left behind by a failed conversion");
    }

    [Fact]
    public void ATensorThatDisagreesWithTheConfigIsNamedWithBothShapes()
    {
        using var dir = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama); // intermediate_size 96
        EditConfig(dir.Path, c => c["intermediate_size"] = 100);
        var error = Assert.Throws<GgufConversionException>(() => LlamaGgufConverter.Convert(dir.Path, Path.Combine(dir.Path, "x.gguf"), GgufWeightType.F32));
        Assert.Contains("mlp.", error.Message);
        Assert.Contains("[96, 64]", error.Message.Replace("[64, 96]", "[96, 64]"));
        Assert.Contains("100", error.Message);
    }

    [Fact]
    public void AttentionBiasesAreRefusedByName()
    {
        using var dir = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { AttentionBias = true });
        var error = Assert.Throws<GgufConversionException>(() => LlamaGgufConverter.Convert(dir.Path, Path.Combine(dir.Path, "x.gguf"), GgufWeightType.F32));
        Assert.Contains("attention_bias", error.Message);
    }

    [Fact]
    public void RotaryPermutationInterleavesTheTwoHalvesOfEachHead()
    {
        // 2 heads of dimension 4, one input column: Hugging Face rows (h, half, j) become llama.cpp rows (h, j, half).
        float[] rows = [0, 1, 2, 3, 4, 5, 6, 7];
        var permuted = LlamaGgufConverter.PermuteForRotary(rows, heads: 2, outFeatures: 8, inFeatures: 1);
        Assert.Equal([0f, 2, 1, 3, 4, 6, 5, 7], permuted);

        // Whole rows move: with 3 input columns, row r's three values stay together.
        var wide = Enumerable.Range(0, 24).Select(i => (float)i).ToArray();
        var moved = LlamaGgufConverter.PermuteForRotary(wide, heads: 2, outFeatures: 8, inFeatures: 3);
        Assert.Equal([0f, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11], moved[..12]);
    }

    [Theory]
    [InlineData(1f, (ushort)0x3F80)]
    [InlineData(1.00390625f, (ushort)0x3F80)] // 1 + 2^-8: halfway, ties to the even 1.0
    [InlineData(1.01171875f, (ushort)0x3F82)] // 1 + 3·2^-8: halfway, ties to the even 1 + 2^-6
    [InlineData(-2.5f, (ushort)0xC020)]
    public void Bfloat16RoundsToNearestEven(float value, ushort expected) =>
        Assert.Equal(expected, BFloat16.FromSingle(value));

    [Fact]
    public void LlamaCppReadsTheShapeFromTheMetadata()
    {
        var options = TinyModelOptions.Llama with { HeadDimension = 32, RopeTheta = 500000, MaxPositionEmbeddings = 192 };
        using var dir = TinyCheckpoint.WriteTemporary(options);
        var gguf = Path.Combine(dir.Path, "model-bf16.gguf");
        LlamaGgufConverter.Convert(dir.Path, gguf, GgufWeightType.BF16);
        using var peer = LlamaCppRunner.Load("llama.cpp", gguf, LlamaCppSettings.Defaults, threads: 2);
        var facts = peer.Facts;
        Assert.Equal(
            (options.LayerCount, options.HiddenSize, options.HeadCount, options.KeyValueHeadCount, options.MaxPositionEmbeddings, options.VocabularySize),
            (facts.Layers, facts.Width, facts.Heads, facts.KeyValueHeads, facts.TrainedContext, facts.Vocabulary));
        Assert.Equal(500000f, float.Parse(facts.Metadata["llama.rope.freq_base"], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1e-5f, float.Parse(facts.Metadata["llama.attention.layer_norm_rms_epsilon"], System.Globalization.CultureInfo.InvariantCulture), 1e-9f);
        Assert.Equal("llama", facts.Metadata["general.architecture"]);
        Assert.Equal("32", facts.Metadata["llama.attention.key_length"]);
        Assert.Equal("32", facts.Metadata["general.file_type"]); // LLAMA_FTYPE_MOSTLY_BF16
    }

    private static void EditConfig(string directory, Action<JsonObject> edit)
    {
        var path = Path.Combine(directory, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString());
    }
}
