using Cluster.Engine.Caching;
using Cluster.Engine.Model;

namespace Cluster.Engine.Tests.Caching;

/// <summary>The capacity a reservation will leave is known before it allocates, so a stage can check its memory budget first.</summary>
public sealed class KvCapacityTests(TinyModelFixture models) : IClassFixture<TinyModelFixture>
{
    [Theory]
    [InlineData(0, 64)]
    [InlineData(1, 64)]
    [InlineData(64, 64)]
    [InlineData(65, 128)]
    public void InitialCapacityIsWholeBlocks(int reserve, int expected)
    {
        using var cache = models.Llama.CreateCache(reserve);
        Assert.Equal(expected, KvCache.InitialCapacity(reserve));
        Assert.Equal(expected, cache.Capacity);
        Assert.Equal(expected * cache.BytesPerToken, cache.Bytes);
    }

    [Theory]
    [InlineData(10, 64)]   // fits
    [InlineData(65, 128)]  // doubles
    [InlineData(200, 256)] // beyond double: the request, rounded up
    [InlineData(256, 256)] // capped at the context length (256 in the tiny model)
    public void ReserveLeavesThePredictedCapacity(int tokens, int expected)
    {
        using var cache = models.Llama.CreateCache(1);
        Assert.Equal(expected, cache.CapacityAfterReserve(tokens));
        cache.Reserve(tokens);
        Assert.Equal(expected, cache.Capacity);
    }

    [Fact]
    public void TheKernelsAddressOfEachLayerFollowsTheStorageWhenItGrowsAndADisposedCacheGivesNone()
    {
        var cache = models.Llama.CreateCache(1);
        var layers = models.Llama.Config.LayerCount;
        var before = cache.KeyData(0);

        cache.Reserve(200); // a new storage, the old one freed

        for (var layer = 0; layer < layers; layer++)
        {
            var (keys, values) = (TensorMemory.Float32Data(cache.Keys(layer, 1)), TensorMemory.Float32Data(cache.Values(layer, 1)));
            Assert.True(cache.KeyData(layer) == keys && cache.ValueData(layer) == values,
                $"Layer {layer}: the cache gives {cache.KeyData(layer):x} / {cache.ValueData(layer):x}, its storage starts at {keys:x} / {values:x}.");
        }
        Assert.NotEqual(before, cache.KeyData(0));
        cache.Dispose();
        Assert.Throws<ObjectDisposedException>(() => cache.KeyData(0));
        Assert.Throws<ObjectDisposedException>(() => cache.ValueData(layers - 1));
    }
}
