namespace Cluster.Contracts.Stages;

/// <summary>What a stage holds: its place in the model, where it runs, and its KV-cache budget.</summary>
[GenerateSerializer, Immutable]
public sealed record StageDescription(
    [property: Id(0)] StageKey Key,
    [property: Id(1)] string Architecture,
    [property: Id(2)] int LayerCount,
    [property: Id(3)] int FirstLayer,
    [property: Id(4)] int EndLayer,
    [property: Id(5)] int ContextLength,
    [property: Id(6)] int VocabularySize,
    [property: Id(7)] string Silo,
    [property: Id(8)] string Device,
    [property: Id(9)] string DType,
    [property: Id(10)] long KvBudgetBytes,
    [property: Id(11)] long KvBytesPerToken,
    [property: Id(12)] int KvBlockTokens,
    [property: Id(13)] int[] EosTokenIds,
    [property: Id(14)] string WeightDType = "",
    [property: Id(15)] int HeadCount = 0,
    [property: Id(16)] string KvDType = "");

/// <summary>
/// A stage's own counts. <see cref="KvPeakBytes"/>: the most its sessions' caches ever held at once (since activation).
/// <see cref="RetainedPrefixes"/> and <see cref="RetainedPrefixBytes"/>: finished requests' caches kept as prefix-cache
/// entries (part of <see cref="IdleSessions"/> and <see cref="KvBytes"/>); <see cref="PrefixHitTokens"/>: positions
/// copied from a cached prefix instead of computed.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StageStatus(
    [property: Id(0)] int ActiveSessions,
    [property: Id(1)] int IdleSessions,
    [property: Id(2)] long KvBytes,
    [property: Id(3)] long KvBudgetBytes,
    [property: Id(4)] long TokensComputed,
    [property: Id(5)] long Steps,
    [property: Id(6)] long Evictions,
    [property: Id(7)] string Silo,
    [property: Id(8)] long KvPeakBytes = 0,
    [property: Id(9)] int RetainedPrefixes = 0,
    [property: Id(10)] long RetainedPrefixBytes = 0,
    [property: Id(11)] long PrefixHitTokens = 0)
{
    public int Sessions => ActiveSessions + IdleSessions;

    /// <summary>No request running, and nothing held but finished requests' caches kept as prefix-cache entries (evictable).</summary>
    public bool HoldsOnlyPrefixCache => ActiveSessions == 0 && IdleSessions == RetainedPrefixes && KvBytes == RetainedPrefixBytes;
}
