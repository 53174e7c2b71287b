using Cluster.Engine.Model;
using Cluster.Silo.Stages;
using Cluster.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Cluster.Silo.Tests.Stages;

/// <summary>The KV bookkeeping of one stage, without Orleans: admission, LRU eviction of idle sessions, budget, expiry.</summary>
public sealed class SessionCachesTests : IDisposable
{
    private readonly TempDirectory _checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama);
    private readonly ModelShard _shard;
    private readonly FakeTimeProvider _clock = new();
    private readonly long _blockBytes;

    public SessionCachesTests()
    {
        _shard = ModelShard.Load(_checkpoint.Path, new LayerRange(0, 2));
        using var probe = _shard.CreateCache(1);
        _blockBytes = probe.Bytes; // one 64-token block
    }

    /// <summary>Room for exactly three one-block sessions.</summary>
    private SessionCaches ThreeBlocks() => new(3 * _blockBytes, _blockBytes / Engine.Caching.KvCache.BlockTokens, _clock);

    private void Run(SessionCaches caches, string id, int start = 0, int end = 10, int reserve = 10)
    {
        var request = new CacheRequest(id, start, end, reserve);
        var admission = caches.Admit([request]);
        Assert.True(admission.Admitted, $"{id}: missing [{string.Join(", ", admission.MissingSessions)}], over budget [{string.Join(", ", admission.OverBudgetSessions)}]");
        admission.Sessions[0].PrepareCache(start, reserve, _shard.CreateCache);
        // A forward pass on zeros: it advances the cache to the chunk's end, which is all these tests need.
        using var scope = TorchSharp.torch.NewDisposeScope();
        _ = _shard.RunLayers(TorchSharp.torch.zeros(end - start, _shard.Config.HiddenSize), [new SequenceChunk(admission.Sessions[0].Cache!, start, end - start)]);
    }

    private static string Held(SessionCaches caches, params string[] ids) =>
        string.Join(", ", ids.Where(id => caches.Find(id) is not null));

    [Fact]
    public void IdleSessionsAreEvictedLeastRecentlyUsedFirst()
    {
        using var caches = ThreeBlocks();
        Run(caches, "a");
        Run(caches, "b");
        Run(caches, "c");
        caches.Release(["a"], keep: true);
        caches.Release(["c"], keep: true);
        caches.Release(["b"], keep: true); // idle from least to most recent: a, c, b

        Run(caches, "d");
        Assert.True(Held(caches, "a", "b", "c", "d") == "b, c, d", $"after d: holding {Held(caches, "a", "b", "c", "d")}");
        Run(caches, "e");
        Assert.True(Held(caches, "a", "b", "c", "d", "e") == "b, d, e", $"after e: holding {Held(caches, "a", "b", "c", "d", "e")}");
        Assert.Equal(2, caches.Evictions);
        Assert.Equal(3 * _blockBytes, caches.UsedBytes);
    }

    [Fact]
    public void ASessionUsedAgainMovesToTheBackOfTheEvictionOrder()
    {
        using var caches = ThreeBlocks();
        Run(caches, "a");
        Run(caches, "b");
        Run(caches, "c");
        caches.Release(["a", "b", "c"], keep: true);
        Run(caches, "a", start: 10, end: 11, reserve: 11); // a continues: now the most recent
        caches.Release(["a"], keep: true);

        Run(caches, "d");

        Assert.Equal("a, c, d", Held(caches, "a", "b", "c", "d"));
    }

    [Fact]
    public void ActiveSessionsAreNeverEvicted()
    {
        using var caches = ThreeBlocks();
        Run(caches, "a");
        Run(caches, "b");
        Run(caches, "c");

        var admission = caches.Admit([new CacheRequest("d", 0, 10, 10)]);

        Assert.Equal(["d"], admission.OverBudgetSessions);
        Assert.Equal("a, b, c", Held(caches, "a", "b", "c", "d"));
        Assert.Equal(0, caches.Evictions);
    }

    [Fact]
    public void ABatchThatDoesNotFitEvenAfterEvictingEveryIdleSessionEvictsNothing()
    {
        using var caches = ThreeBlocks();
        Run(caches, "a");
        Run(caches, "b");
        Run(caches, "c");
        caches.Release(["a"], keep: true);

        // Two blocks wanted, one can be freed.
        var admission = caches.Admit([new CacheRequest("d", 0, 10, 2 * Engine.Caching.KvCache.BlockTokens)]);

        Assert.Equal(["d"], admission.OverBudgetSessions);
        Assert.Equal("a, b, c", Held(caches, "a", "b", "c"));
        Assert.Equal(1, caches.IdleCount);
    }

    [Fact]
    public void AGrowingCacheCountsItsGrowthAgainstTheBudget()
    {
        using var caches = ThreeBlocks();
        Run(caches, "a");
        Run(caches, "b");
        Run(caches, "c");
        caches.Release(["b"], keep: true);

        // a doubles to two blocks: idle b must go.
        Run(caches, "a", start: 10, end: 70, reserve: 70);

        Assert.Equal("a, c", Held(caches, "a", "b", "c"));
        Assert.Equal(3 * _blockBytes, caches.UsedBytes);
    }

    [Fact]
    public void PeakBytesKeepsTheMostEverHeldAfterSessionsAreFreed()
    {
        using var caches = ThreeBlocks();
        Run(caches, "a");
        caches.NotePeak();
        Run(caches, "b");
        caches.NotePeak();
        caches.Release(["a", "b"], keep: false);
        Run(caches, "c");
        caches.NotePeak();

        Assert.True(caches.PeakBytes == 2 * _blockBytes && caches.UsedBytes == _blockBytes,
            $"Two one-block sessions, both freed, then one: peak {caches.PeakBytes} bytes (expected {2 * _blockBytes}), now {caches.UsedBytes} (expected {_blockBytes}).");
    }

    [Fact]
    public void SessionsHoldingFewerPositionsThanTheEntryStartsAtAreMissing()
    {
        using var caches = ThreeBlocks();
        Run(caches, "a", end: 10);

        Assert.Equal(["a", "z"], caches.Admit([new CacheRequest("a", 11, 12, 12), new CacheRequest("z", 1, 2, 2)]).MissingSessions);
        Assert.Null(caches.Find("z"));
        Assert.True(caches.Admit([new CacheRequest("a", 10, 11, 11), new CacheRequest("z", 0, 2, 2)]).Admitted);
    }

    [Fact]
    public void ExpiryFreesSessionsUnusedLongerThanTheExpiry()
    {
        using var caches = ThreeBlocks();
        Run(caches, "idle");
        caches.Release(["idle"], keep: true);
        _clock.Advance(TimeSpan.FromMinutes(6));
        Run(caches, "recent");

        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(1, caches.Expire(TimeSpan.FromMinutes(10)));
        Assert.Equal("recent", Held(caches, "idle", "recent"));

        _clock.Advance(TimeSpan.FromMinutes(6)); // an active session nobody stepped for too long: its gateway is gone
        Assert.Equal(1, caches.Expire(TimeSpan.FromMinutes(10)));
        Assert.Equal(0, caches.UsedBytes);
    }

    [Fact]
    public void AbandoningAFailedStepDropsOnlyTheSessionsItCreated()
    {
        using var caches = ThreeBlocks();
        Run(caches, "old");
        var admission = caches.Admit([new CacheRequest("old", 10, 11, 11), new CacheRequest("new", 0, 5, 5)]);
        admission.Sessions[1].PrepareCache(0, 5, _shard.CreateCache);

        caches.Abandon(admission);

        Assert.Equal("old", Held(caches, "old", "new"));
        Assert.Equal(10, caches.Find("old")!.Length);
        Assert.Equal(_blockBytes, caches.UsedBytes);
    }

    public void Dispose()
    {
        _shard.Dispose();
        _checkpoint.Dispose();
    }
}
