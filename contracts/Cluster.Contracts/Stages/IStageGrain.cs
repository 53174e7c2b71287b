using Orleans.Concurrency;

namespace Cluster.Contracts.Stages;

/// <summary>
/// One pipeline stage of one replica of a model: a contiguous range of decoder layers on one silo, with the KV
/// caches of every session that ran through it. Keyed by <see cref="StageKey"/>. Compute is serialized per silo, in
/// the order calls arrive (one device thread); the gateway drives each hop, so while stage s computes micro-batch m,
/// stage s-1 is free to compute micro-batch m+1.
/// </summary>
/// <remarks>
/// A step is idempotent per session: an entry at <see cref="StageEntry.StartPosition"/> p first truncates the
/// session's cache to p, then writes its tokens. A retried or replayed step therefore gives the same cache, and a
/// stage that holds fewer than p positions answers with <see cref="StageResult.MissingSessions"/> instead of
/// computing, so the gateway can replay that session's history.
/// </remarks>
public interface IStageGrain : IGrainWithStringKey
{
    /// <summary>The layers this stage holds and its KV-cache budget. Activates the grain (loads its weights).</summary>
    Task<StageDescription> Describe();

    /// <summary>
    /// Runs one micro-batch through this stage's layers (stage 0 embeds, the last stage samples). Always interleaves:
    /// a step that arrives while one computes queues behind it on the silo's device at once, so the device goes from
    /// one to the next without waiting for the grain to answer the first; steps and every other call that touches the
    /// sessions run on the device in arrival order.
    /// </summary>
    [AlwaysInterleave]
    Task<StageResult> Forward(StageBatch batch);

    /// <summary>
    /// Embeds inputs: a prefill with throwaway caches up to the requested layer, then pooling (see <see cref="EmbedBatch"/>).
    /// Serialized with the forward steps like any call to this grain.
    /// </summary>
    Task<EmbedResult> Embed(EmbedBatch batch);

    /// <summary>Looks inside one prompt's forward pass (see <see cref="InspectBatch"/>); serialized with the forward steps.</summary>
    Task<InspectResult> Inspect(InspectBatch batch);

    /// <summary>Ends these sessions' current use: what becomes of their caches is <paramref name="release"/>.</summary>
    Task Release(IReadOnlyList<string> sessionIds, CacheRelease release);

    /// <summary>
    /// Frees the caches of sessions unused (no step, no release) for longer than the configured expiry; returns how
    /// many. That covers idle sessions and also active ones whose gateway stopped stepping them without a release.
    /// Also run by a timer.
    /// </summary>
    Task<int> ExpireIdleSessions();

    /// <summary>Sessions held, KV bytes used, tokens computed: the stage's own counts, for tests and ListModels.</summary>
    Task<StageStatus> GetStatus();
}

/// <summary>What a stage does with a sequence's cache when its use ends.</summary>
public enum CacheRelease
{
    /// <summary>Freed now: a request cancelled or failed, a session deleted.</summary>
    Free,

    /// <summary>Kept, idle, evictable and expiring: a session between turns.</summary>
    Park,

    /// <summary>
    /// Kept as a prefix cache entry other sequences may copy from: a one-shot request that finished. Evicted before
    /// any parked session, least recently used first; expires like a parked session.
    /// </summary>
    Retain,
}
