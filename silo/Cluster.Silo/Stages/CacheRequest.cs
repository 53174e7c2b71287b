using Cluster.Contracts.Stages;

namespace Cluster.Silo.Stages;

/// <summary>
/// What one entry of a step asks of a session's cache: to continue at StartPosition and reach EndPosition, with room for
/// ReserveTokens; with <see cref="Prefix"/>, positions [0, StartPosition) may come from another session's cache.
/// </summary>
public readonly record struct CacheRequest(string SessionId, int StartPosition, int EndPosition, int ReserveTokens, PrefixSource? Prefix = null)
{
    /// <summary><paramref name="contextLength"/> caps the reservation: a sequence never needs more positions than the model has.</summary>
    public static CacheRequest For(StageEntry entry, int contextLength)
    {
        var end = entry.StartPosition + entry.TokenIds.Length;
        return new(entry.SessionId, entry.StartPosition, end, Math.Min(Math.Max(entry.ReserveTokens, end), contextLength), entry.Prefix);
    }
}

/// <summary>
/// The outcome of <see cref="SessionCaches.Admit"/>: either every entry's session, in entry order (<see cref="Admitted"/>),
/// or the sessions that stopped the step (missing positions, or no room in the budget), and nothing changed.
/// </summary>
public sealed record CacheAdmission(
    IReadOnlyList<StageSession> Sessions,
    IReadOnlyList<StageSession> Created,
    IReadOnlyList<string> MissingSessions,
    IReadOnlyList<string> OverBudgetSessions)
{
    public bool Admitted => MissingSessions.Count == 0 && OverBudgetSessions.Count == 0;

    public static CacheAdmission Missing(IReadOnlyList<string> ids) => new([], [], ids, []);

    public static CacheAdmission OverBudget(IReadOnlyList<string> ids) => new([], [], [], ids);
}
