using Cluster.Engine.Caching;

namespace Cluster.Silo.Stages;

/// <summary>
/// What one stage holds for one session: the KV cache of its layers, the token history (what the cache holds: checked
/// before a prefix is copied from it; the last stage's repetition penalty reads it) and, on the last stage, the sampler
/// of the running request. Owned by <see cref="SessionCaches"/>.
/// </summary>
public sealed class StageSession(string id) : IDisposable
{
    public string Id { get; } = id;

    /// <summary>Null until the first step that uses the session allocates it (on the compute thread).</summary>
    public KvCache? Cache { get; private set; }

    /// <summary>Idle sessions (between turns) may be evicted; active ones belong to a running request.</summary>
    public bool IsIdle { get; internal set; }

    /// <summary>A finished request's cache kept only as a prefix for others (<see cref="Contracts.Stages.CacheRelease.Retain"/>): evicted first.</summary>
    public bool IsRetainedPrefix { get; internal set; }

    /// <summary>Set by admission on a prefix hit: the session and length to copy from before this step computes.</summary>
    internal (StageSession Source, int Length)? PendingCopy { get; set; }

    /// <summary>When the session last took part in a step or was released; the expiry clock runs from here.</summary>
    public DateTimeOffset LastUsed { get; internal set; }

    /// <summary>Orders idle sessions for eviction, least recently used first (a counter, so equal clock readings still order).</summary>
    internal long UseSequence { get; set; }

    /// <summary>Positions the cache holds: a step may start anywhere up to here.</summary>
    public int Length => Cache?.Length ?? 0;

    public long Bytes => Cache?.Bytes ?? 0;

    /// <summary>Prompt and generated tokens at positions [0, Length).</summary>
    public List<int> History { get; } = [];

    /// <summary>
    /// On the last stage, the token its latest step sampled for this session and the position that token takes (the
    /// step's end): the input of a <see cref="Contracts.Stages.StageEntry.ContinuesSample"/> entry.
    /// </summary>
    public (int Position, int TokenId)? LastSample { get; internal set; }

    /// <summary>True when the cache holds exactly <paramref name="tokens"/> at positions [0, tokens.Count).</summary>
    public bool Holds(IReadOnlyList<int> tokens) =>
        Length >= tokens.Count && History.Count >= tokens.Count && History.Take(tokens.Count).SequenceEqual(tokens);

    /// <summary>
    /// Carries out <see cref="PendingCopy"/>: a cache with room for <paramref name="reserveTokens"/> that holds the
    /// source's first positions, and their history. Allocates tensors: call it on the compute thread, before any
    /// session of the step truncates (the source may be in the same step).
    /// </summary>
    public void CopyPendingPrefix(int reserveTokens, Func<int, KvCache> createCache)
    {
        if (PendingCopy is not { } copy)
        {
            return;
        }
        var (source, length) = copy;
        PendingCopy = null;
        Cache?.Dispose();
        Cache = createCache(reserveTokens);
        Cache.CopyPrefixFrom(source.Cache!, length);
        History.Clear();
        History.AddRange(source.History.Take(length));
    }

    /// <summary>The sampler of the request now generating in this session (last stage only).</summary>
    internal RequestSampler? Sampler { get; set; }

    /// <summary>Bytes the cache will hold once it has room for <paramref name="tokens"/> positions; nothing is allocated.</summary>
    public long BytesAfterReserve(int tokens, long bytesPerToken) =>
        (Cache is null ? KvCache.InitialCapacity(tokens) : Cache.CapacityAfterReserve(tokens)) * bytesPerToken;

    /// <summary>
    /// Makes the cache ready for a chunk at <paramref name="startPosition"/>: created with room for
    /// <paramref name="reserveTokens"/>, or truncated to the start (a step rewrites what follows it) and grown.
    /// Allocates tensors: call it on the compute thread.
    /// </summary>
    public void PrepareCache(int startPosition, int reserveTokens, Func<int, KvCache> createCache)
    {
        if (Cache is null)
        {
            Cache = createCache(reserveTokens);
        }
        else if (Cache.Length > startPosition)
        {
            Cache.Truncate(startPosition);
        }
        Cache.Reserve(reserveTokens);
    }

    /// <summary>The history now holds positions [0, start) followed by <paramref name="tokenIds"/>.</summary>
    public void WriteHistory(int startPosition, IReadOnlyList<int> tokenIds)
    {
        if (startPosition > History.Count)
        {
            throw new InvalidOperationException($"Session '{Id}' has a history of {History.Count} tokens; it cannot continue at position {startPosition}.");
        }
        History.RemoveRange(startPosition, History.Count - startPosition);
        History.AddRange(tokenIds);
    }

    /// <summary>After a failed step: the history keeps only what the cache still holds.</summary>
    public void TrimHistoryToCache()
    {
        if (History.Count > Length)
        {
            History.RemoveRange(Length, History.Count - Length);
        }
    }

    public void Dispose()
    {
        Cache?.Dispose();
        Cache = null;
        History.Clear();
        Sampler = null;
    }
}
