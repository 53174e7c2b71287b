using Cluster.Engine.Model;
using TorchSharp;

namespace Cluster.Engine.Tests.Model;

/// <summary>Every forward releases its temporaries: a long run does not accumulate native tensors.</summary>
public sealed class MemoryTests(TinyModelFixture models) : IClassFixture<TinyModelFixture>
{
    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void ManyDecodeStepsLeaveNoLiveTensorsBehind(string architecture)
    {
        var model = models.Model(architecture);
        var stats = DisposeScopeManager.Statistics;
        var liveBefore = stats.ThreadTotalLiveCount;
        using (var cache = model.CreateCache(reserveTokens: 10))
        {
            using (model.Forward([SequenceChunk.ForTokens(cache, 0, TestTokens.Sequence(8, 1))]))
            {
            }
            for (var step = 0; step < 100; step++)
            {
                using var logits = model.Forward([SequenceChunk.Continue(cache, [step % 1000])]); // grows past the reserve: one block reallocation
            }
            Assert.Equal(108, cache.Length);
        }
        var leaked = stats.ThreadTotalLiveCount - liveBefore;
        Assert.True(leaked == 0, $"{leaked} tensors created during 101 forwards on this thread are still alive");
    }

    [Fact]
    public void CacheReservesInBlocksAndGrowsRarely()
    {
        using var cache = models.Llama.CreateCache(reserveTokens: 70);
        Assert.Equal(128, cache.Capacity); // 70 rounded up to blocks of 64
        var capacities = new HashSet<int>();
        for (var step = 0; step < 200; step++)
        {
            using var logits = models.Llama.Forward([SequenceChunk.Continue(cache, [step])]);
            capacities.Add(cache.Capacity);
        }
        Assert.Equal([128, 256], capacities.Order().ToArray()); // one reallocation in 200 steps, capped at the 256-position context
        Assert.Equal(2L * 4 * 2 * 256 * 16 * 4, cache.Bytes);
    }
}
