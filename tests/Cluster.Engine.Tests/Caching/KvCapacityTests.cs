using Cluster.Engine.Caching;

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
}
