using System.Text.Json.Nodes;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Testing;

namespace Cluster.Engine.Tests.Weights;

/// <summary>Loading is strict, and every broken checkpoint fails with a message naming the tensor, the file and what was expected.</summary>
public sealed class LoaderErrorTests
{
    [Fact]
    public void MissingTensorIsNamedWithItsExpectedShape()
    {
        using var dir = TempDirectory.Create("missing");
        var tensors = TinyCheckpoint.Write(dir.Path, TinyModelOptions.Llama);
        Rewrite(dir.Path, tensors.Where(t => t.Name != "model.layers.2.mlp.up_proj.weight").ToList());
        var error = Assert.Throws<CheckpointException>(() => ModelShard.Load(dir.Path));
        Assert.Contains("\"model.layers.2.mlp.up_proj.weight\" is missing", error.Message);
        Assert.Contains("[96, 64]", error.Message);
    }

    [Fact]
    public void WrongShapeNamesTensorFileAndExpectedShape()
    {
        using var dir = TempDirectory.Create("shape");
        var tensors = TinyCheckpoint.Write(dir.Path, TinyModelOptions.Llama);
        var wrong = tensors.Select(t => t.Name == "model.layers.1.self_attn.k_proj.weight" ? t with { Shape = [64, 32] } : t).ToList();
        Rewrite(dir.Path, wrong);
        var error = Assert.Throws<CheckpointException>(() => ModelShard.Load(dir.Path));
        Assert.Contains("\"model.layers.1.self_attn.k_proj.weight\"", error.Message);
        Assert.Contains("model.safetensors", error.Message);
        Assert.Contains("has shape [64, 32]; the model config expects [32, 64]", error.Message);
    }

    [Fact]
    public void UnexpectedTensorIsRefused()
    {
        using var dir = TempDirectory.Create("unexpected");
        var tensors = TinyCheckpoint.Write(dir.Path, TinyModelOptions.Llama).ToList();
        tensors.Add(new SafetensorsWriter.Tensor("model.layers.0.self_attn.q_norm.weight", [16], new float[16]));
        Rewrite(dir.Path, tensors);
        var error = Assert.Throws<CheckpointException>(() => ModelShard.Load(dir.Path));
        Assert.Contains("Unexpected tensor \"model.layers.0.self_attn.q_norm.weight\" [16]", error.Message);
    }

    [Fact]
    public void KnownBuffersAreIgnored()
    {
        using var dir = TempDirectory.Create("buffers");
        var tensors = TinyCheckpoint.Write(dir.Path, TinyModelOptions.Gpt2).ToList();
        tensors.Add(new SafetensorsWriter.Tensor("h.0.attn.bias", [1, 1, 4, 4], new float[16]));
        tensors.Add(new SafetensorsWriter.Tensor("h.0.attn.masked_bias", [], [-1e4f]));
        Rewrite(dir.Path, tensors);
        using var model = ModelShard.Load(dir.Path);
        Assert.True(model.HasHead);
    }

    [Theory]
    [InlineData(100)]   // inside the data section
    [InlineData(12)]    // inside the header
    [InlineData(5)]     // inside the header length
    public void TruncatedFileFailsClearly(int keepBytesFromEnd)
    {
        using var dir = TempDirectory.Create("truncated");
        TinyCheckpoint.Write(dir.Path, TinyModelOptions.Llama);
        var path = Path.Combine(dir.Path, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        var keep = keepBytesFromEnd == 100 ? bytes.Length - 100 : keepBytesFromEnd;
        File.WriteAllBytes(path, bytes[..keep]);
        var error = Assert.Throws<CheckpointException>(() => ModelShard.Load(dir.Path));
        Assert.Contains("model.safetensors is truncated", error.Message);
    }

    [Fact]
    public void CorruptHeaderFailsClearly()
    {
        using var dir = TempDirectory.Create("corrupt");
        TinyCheckpoint.Write(dir.Path, TinyModelOptions.Llama);
        var path = Path.Combine(dir.Path, "model.safetensors");
        var bytes = File.ReadAllBytes(path);
        bytes[8] = (byte)'#'; // the header's opening brace
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<CheckpointException>(() => ModelShard.Load(dir.Path));
        Assert.Contains("header is not valid JSON", error.Message);
    }

    [Fact]
    public void UnknownArchitectureIsNamed()
    {
        using var dir = TempDirectory.Create("arch");
        TinyCheckpoint.Write(dir.Path, TinyModelOptions.Llama);
        var configPath = Path.Combine(dir.Path, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["model_type"] = "mamba";
        File.WriteAllText(configPath, config.ToJsonString());
        var error = Assert.Throws<CheckpointException>(() => ModelShard.Load(dir.Path));
        Assert.Contains("unknown architecture model_type \"mamba\"", error.Message);
        Assert.Contains("gpt2", error.Message);
    }

    [Fact]
    public void MissingConfigAndMissingWeightsAreNamed()
    {
        using var dir = TempDirectory.Create("empty");
        var noConfig = Assert.Throws<CheckpointException>(() => ModelShard.Load(dir.Path));
        Assert.Contains("config.json not found", noConfig.Message);

        TinyCheckpoint.Write(dir.Path, TinyModelOptions.Llama);
        File.Delete(Path.Combine(dir.Path, "model.safetensors"));
        var noWeights = Assert.Throws<CheckpointException>(() => ModelShard.Load(dir.Path));
        Assert.Contains("No model.safetensors", noWeights.Message);
    }

    [Fact]
    public void ShardIndexNamingAMissingFileFailsClearly()
    {
        using var dir = TempDirectory.Create("index");
        TinyCheckpoint.Write(dir.Path, TinyModelOptions.Llama with { ShardCount = 2 });
        File.Delete(Path.Combine(dir.Path, "model-00002-of-00002.safetensors"));
        var error = Assert.Throws<CheckpointException>(() => ModelShard.Load(dir.Path));
        Assert.Contains("lists shard model-00002-of-00002.safetensors, which is not in", error.Message);
    }

    private static void Rewrite(string dir, IReadOnlyList<SafetensorsWriter.Tensor> tensors)
    {
        // Shape edits keep the values; pad or cut them to the new element count.
        var fixedUp = tensors.Select(t =>
        {
            var count = t.Shape.Aggregate(1L, (a, b) => a * b);
            return t.Values.Length == count ? t : t with { Values = new float[count] };
        }).ToList();
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), fixedUp, DiskDType.F32);
    }
}
