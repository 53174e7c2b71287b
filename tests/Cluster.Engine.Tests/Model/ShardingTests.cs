using Cluster.Engine.Model;
using TorchSharp;

namespace Cluster.Engine.Tests.Model;

/// <summary>Layers [0, k) followed by [k, n) must equal [0, n): the cluster's stages are the engine cut into pieces.</summary>
public sealed class ShardingTests(TinyModelFixture models) : IClassFixture<TinyModelFixture>
{
    private const double Fp32Tolerance = 1e-5;

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void TwoShardsEqualTheWholeModelForEverySplitPoint(string architecture)
    {
        var whole = models.Model(architecture);
        var n = whole.Config.LayerCount;
        var prompt = TestTokens.Sequence(12, seed: 3);
        var next = TestTokens.Sequence(3, seed: 4);
        using var scope = torch.NewDisposeScope();
        using var wholeCache = whole.CreateCache();
        var expectedPrefill = whole.Forward([SequenceChunk.ForTokens(wholeCache, 0, prompt)], allPositions: true);
        var expectedDecode = next.Select(t => whole.Forward([SequenceChunk.Continue(wholeCache, [t])])).ToArray();

        for (var k = 1; k < n; k++)
        {
            using var first = ModelShard.Load(models.Directory(architecture), new LayerRange(0, k));
            using var second = ModelShard.Load(models.Directory(architecture), new LayerRange(k, n));
            Assert.True(first.HasEmbedding && !first.HasHead && second.HasHead && !second.HasEmbedding, $"split at {k}: wrong parts loaded");
            using var cacheA = first.CreateCache();
            using var cacheB = second.CreateCache();

            var chunkA = SequenceChunk.ForTokens(cacheA, 0, prompt);
            var chunkB = new SequenceChunk(cacheB, 0, prompt.Length);
            var hidden = first.RunLayers(first.Embed([chunkA]), [chunkA]);
            var logits = second.Logits(second.RunLayers(hidden, [chunkB]), [chunkB], allPositions: true);
            TensorAssert.Close(expectedPrefill, logits, Fp32Tolerance, $"{architecture} prefill split at layer {k}");

            for (var i = 0; i < next.Length; i++)
            {
                var a = SequenceChunk.Continue(cacheA, [next[i]]);
                var b = new SequenceChunk(cacheB, cacheB.Length, 1);
                var h = first.RunLayers(first.Embed([a]), [a]);
                var step = second.Logits(second.RunLayers(h, [b]), [b]);
                TensorAssert.Close(expectedDecode[i], step, Fp32Tolerance, $"{architecture} decode {i} split at layer {k}");
            }
        }
    }

    [Fact]
    public void ThreeEvenShardsEqualTheWholeModel()
    {
        var whole = models.Llama;
        var ranges = LayerRange.SplitEvenly(whole.Config.LayerCount, 3);
        Assert.Equal([new LayerRange(0, 2), new LayerRange(2, 3), new LayerRange(3, 4)], ranges);
        var prompt = TestTokens.Sequence(9, seed: 5);
        using var scope = torch.NewDisposeScope();
        using var wholeCache = whole.CreateCache();
        var expected = whole.Forward([SequenceChunk.ForTokens(wholeCache, 0, prompt)]);

        var shards = ranges.Select(r => ModelShard.Load(models.Directory("llama"), r)).ToArray();
        try
        {
            var caches = shards.Select(s => s.CreateCache()).ToArray();
            var chunks = caches.Select(c => SequenceChunk.ForTokens(c, 0, prompt)).ToArray();
            var hidden = shards[0].Embed([chunks[0]]);
            for (var s = 0; s < shards.Length; s++)
            {
                hidden = shards[s].RunLayers(hidden, [chunks[s]]);
            }
            TensorAssert.Close(expected, shards[^1].Logits(hidden, [chunks[^1]]), Fp32Tolerance, "three shards");
            foreach (var c in caches)
            {
                c.Dispose();
            }
        }
        finally
        {
            foreach (var s in shards)
            {
                s.Dispose();
            }
        }
    }

    [Fact]
    public void AShardLoadsOnlyItsOwnParts()
    {
        using var middle = ModelShard.Load(models.Directory("llama"), new LayerRange(1, 3));
        Assert.False(middle.HasEmbedding);
        Assert.False(middle.HasHead);
        using var cache = middle.CreateCache();
        var chunk = SequenceChunk.ForTokens(cache, 0, [1, 2]);
        var error = Assert.Throws<InvalidOperationException>(() => middle.Embed([chunk]));
        Assert.Contains("holds no embeddings", error.Message);
    }
}
