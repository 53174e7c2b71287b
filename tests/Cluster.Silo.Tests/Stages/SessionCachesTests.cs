using Cluster.Contracts.Stages;
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

    /// <summary>One step of <paramref name="tokens"/>[start..], its history written as a stage writes it; with <paramref name="prefixFrom"/>, [0, start) is copied from that session.</summary>
    private void RunTokens(SessionCaches caches, string id, int[] tokens, int start = 0, string? prefixFrom = null)
    {
        var request = new CacheRequest(id, start, tokens.Length, tokens.Length, prefixFrom is null ? null : new PrefixSource(prefixFrom, tokens[..start]));
        var admission = caches.Admit([request]);
        Assert.True(admission.Admitted, $"{id}: missing [{string.Join(", ", admission.MissingSessions)}], over budget [{string.Join(", ", admission.OverBudgetSessions)}]");
        var session = admission.Sessions[0];
        session.CopyPendingPrefix(request.ReserveTokens, _shard.CreateCache);
        session.PrepareCache(start, request.ReserveTokens, _shard.CreateCache);
        using var scope = TorchSharp.torch.NewDisposeScope();
        _ = _shard.RunLayers(TorchSharp.torch.zeros(tokens.Length - start, _shard.Config.HiddenSize), [new SequenceChunk(session.Cache!, start, tokens.Length - start)]);
        session.WriteHistory(start, tokens[start..]);
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
        caches.Release(["a"], CacheRelease.Park);
        caches.Release(["c"], CacheRelease.Park);
        caches.Release(["b"], CacheRelease.Park); // idle from least to most recent: a, c, b

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
        caches.Release(["a", "b", "c"], CacheRelease.Park);
        Run(caches, "a", start: 10, end: 11, reserve: 11); // a continues: now the most recent
        caches.Release(["a"], CacheRelease.Park);

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
        caches.Release(["a"], CacheRelease.Park);

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
        caches.Release(["b"], CacheRelease.Park);

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
        caches.Release(["a", "b"], CacheRelease.Free);
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
        caches.Release(["idle"], CacheRelease.Park);
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

    [Fact]
    public void AnEntryNamingAPrefixSourceCopiesItsPositionsAndHistory()
    {
        using var caches = ThreeBlocks();
        int[] source = [.. Enumerable.Range(1, 20)];
        int[] sharing = [.. source[..16], 90, 91, 92];
        RunTokens(caches, "source", source);
        caches.Release(["source"], CacheRelease.Retain);

        RunTokens(caches, "hit", sharing, start: 16, prefixFrom: "source");

        var hit = caches.Find("hit")!;
        Assert.True(hit.Length == sharing.Length && hit.History.SequenceEqual(sharing),
            $"hit holds {hit.Length} positions, history [{string.Join(", ", hit.History)}]; expected [{string.Join(", ", sharing)}]");
        Assert.Equal(16, caches.PrefixHitTokens);
        Assert.True(caches.RetainedCount == 1 && caches.Find("source")!.Length == 20, "the source stays retained and whole after it was copied from");
    }

    [Fact]
    public void APrefixSourceHoldingOtherTokensOrNoneIsMissingAndCreatesNothing()
    {
        using var caches = ThreeBlocks();
        RunTokens(caches, "source", [.. Enumerable.Range(1, 20)]);
        int[] other = [.. Enumerable.Range(2, 16)];

        var wrongTokens = caches.Admit([new CacheRequest("hit", 16, 18, 18, new PrefixSource("source", other))]);
        var noSource = caches.Admit([new CacheRequest("hit", 16, 18, 18, new PrefixSource("gone", other))]);

        Assert.Equal(["hit"], wrongTokens.MissingSessions);
        Assert.Equal(["hit"], noSource.MissingSessions);
        Assert.True(caches.Find("hit") is null && caches.PrefixHitTokens == 0, "a refused prefix must leave no session and count no hit");
    }

    [Fact]
    public void RetainedPrefixesAreEvictedBeforeParkedSessionsAndTheSourceOfAStepNever()
    {
        using var caches = ThreeBlocks();
        int[] tokens = [.. Enumerable.Range(1, 20)];
        RunTokens(caches, "parked", [.. Enumerable.Range(50, 10)]);
        RunTokens(caches, "source", tokens);
        RunTokens(caches, "retained", [.. Enumerable.Range(70, 10)]);
        caches.Release(["parked"], CacheRelease.Park);
        caches.Release(["source", "retained"], CacheRelease.Retain); // retained: the most recently used, still evicted first

        RunTokens(caches, "hit", [.. tokens[..16], 99], start: 16, prefixFrom: "source");

        Assert.True(Held(caches, "parked", "source", "retained", "hit") == "parked, source, hit",
            $"holding {Held(caches, "parked", "source", "retained", "hit")}; the other retained prefix should have made room, the source being copied from kept");
        Assert.Equal(1, caches.Evictions);
    }

    public void Dispose()
    {
        _shard.Dispose();
        _checkpoint.Dispose();
    }
}
