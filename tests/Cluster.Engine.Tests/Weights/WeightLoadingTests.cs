using Cluster.Engine.Model;
using Cluster.Engine.Weights;
using Cluster.Testing;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Tests.Weights;

public sealed class WeightLoadingTests
{
    [Theory]
    [InlineData(DiskDType.F32)]
    [InlineData(DiskDType.F16)]
    [InlineData(DiskDType.BF16)]
    public void TensorsReadBackExactlyAsWrittenInEachDiskDType(DiskDType dtype)
    {
        using var dir = TempDirectory.Create("dtype");
        var written = TinyCheckpoint.Write(dir.Path, TinyModelOptions.Llama with { DType = dtype, ShardCount = 2 });
        var checkpoint = CheckpointWeights.Open(dir.Path);
        foreach (var tensor in written.Where((_, i) => i % 5 == 0))
        {
            using var loaded = checkpoint.Load(tensor.Name, tensor.Shape, ScalarType.Float32, torch.CPU);
            var values = loaded.data<float>().ToArray();
            var expected = tensor.Values.Select(v => SafetensorsWriter.RoundTrip(v, dtype)).ToArray();
            Assert.True(expected.SequenceEqual(values), $"{tensor.Name} ({dtype}) differs from what was written");
        }
    }

    [Fact]
    public void ShardedCheckpointGivesTheSameLogitsAsSingleFile()
    {
        using var single = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama);
        using var sharded = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { ShardCount = 3 });
        Assert.True(File.Exists(Path.Combine(sharded.Path, "model.safetensors.index.json")));
        using var a = ModelShard.Load(single.Path);
        using var b = ModelShard.Load(sharded.Path);
        using var scope = torch.NewDisposeScope();
        using var cacheA = a.CreateCache();
        using var cacheB = b.CreateCache();
        var tokens = TestTokens.Sequence(6, 9);
        TensorAssert.Close(
            a.Forward([SequenceChunk.ForTokens(cacheA, 0, tokens)]),
            b.Forward([SequenceChunk.ForTokens(cacheB, 0, tokens)]), 0, "sharded vs single");
    }

    [Fact]
    public void HeaderReadingDoesNotTouchTensorBytes()
    {
        // The header describes a 2 GiB tensor whose bytes are absent: opening must fail on truncation, cheaply,
        // not by reading or allocating the data.
        using var dir = TempDirectory.Create("huge");
        var path = Path.Combine(dir.Path, "model.safetensors");
        var header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[536870912],\"data_offsets\":[0,2147483648]}}";
        using (var file = File.Create(path))
        {
            file.Write(BitConverter.GetBytes((long)header.Length));
            file.Write(System.Text.Encoding.UTF8.GetBytes(header));
        }
        var before = GC.GetTotalAllocatedBytes();
        var error = Assert.Throws<Cluster.Engine.Configuration.CheckpointException>(() => SafetensorsFile.ReadHeader(path));
        Assert.Contains("truncated", error.Message);
        Assert.True(GC.GetTotalAllocatedBytes() - before < 10_000_000, "reading a header allocated more than 10 MB");
    }
}
