using Cluster.Contracts.Stages;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// How many KV-cache positions a replica can hold for running sequences: the smallest budget among its stages, in
/// whole cache blocks. Admission reserves a sequence's most positions up front, so a running sequence never runs
/// out of cache mid-generation; idle sessions parked on the stages are evicted by the stages when room is needed.
/// </summary>
internal sealed class ReplicaCapacity
{
    private readonly int _blockTokens;
    private long _reserved;

    public ReplicaCapacity(IReadOnlyList<StageDescription> stages)
    {
        _blockTokens = Math.Max(1, stages.Max(s => s.KvBlockTokens));
        var tokens = stages.Min(s => s.KvBytesPerToken > 0 ? s.KvBudgetBytes / s.KvBytesPerToken : long.MaxValue);
        Tokens = tokens / _blockTokens * _blockTokens;
    }

    /// <summary>Positions the replica holds in all.</summary>
    public long Tokens { get; }

    public long Reserved => _reserved;

    /// <summary>What a sequence of <paramref name="positions"/> occupies: whole blocks.</summary>
    public long TokensReserved(int positions) => (positions + _blockTokens - 1L) / _blockTokens * _blockTokens;

    public bool TryReserve(int positions)
    {
        var needed = TokensReserved(positions);
        if (_reserved + needed > Tokens)
        {
            return false;
        }
        _reserved += needed;
        return true;
    }

    public void Release(int positions) => _reserved -= TokensReserved(positions);
}
