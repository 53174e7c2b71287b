using Cluster.Contracts.Stages;
using Cluster.Engine.Caching;

namespace Cluster.Silo.Stages;

/// <summary>
/// The sessions of one stage and their KV caches inside a byte budget: admits a step's entries (or says which sessions
/// stop it), evicts least-recently-used idle sessions to make room, releases and expires sessions. Bookkeeping only:
/// caches are allocated by <see cref="StageSession.PrepareCache"/> on the compute thread. Not thread-safe: the stage
/// grain's turns serialize every call.
/// </summary>
public sealed class SessionCaches(long budgetBytes, long bytesPerToken, TimeProvider clock) : IDisposable
{
    private readonly Dictionary<string, StageSession> _sessions = new(StringComparer.Ordinal);
    private long _useSequence;

    public long BudgetBytes { get; } = budgetBytes;
    public long BytesPerToken { get; } = bytesPerToken;
    public long Evictions { get; private set; }
    public int ActiveCount => _sessions.Values.Count(s => !s.IsIdle);
    public int IdleCount => _sessions.Values.Count(s => s.IsIdle);
    public int RetainedCount => _sessions.Values.Count(s => s.IsRetainedPrefix);
    public long RetainedBytes => _sessions.Values.Where(s => s.IsRetainedPrefix).Sum(s => s.Bytes);

    /// <summary>Positions admitted as copies of a cached prefix instead of computed, since activation.</summary>
    public long PrefixHitTokens { get; private set; }

    /// <summary>Bytes held by every session's cache (summed on demand, so it can never drift from the caches).</summary>
    public long UsedBytes => _sessions.Values.Sum(s => s.Bytes);

    /// <summary>
    /// The most <see cref="UsedBytes"/> ever reached, as of the last <see cref="NotePeak"/>. Caches grow only when a
    /// step computes, so noting it after each step sees every peak.
    /// </summary>
    public long PeakBytes { get; private set; }

    /// <summary>Call after a step allocated (or failed part-way through allocating): updates <see cref="PeakBytes"/>.</summary>
    public void NotePeak() => PeakBytes = Math.Max(PeakBytes, UsedBytes);

    public StageSession? Find(string sessionId) => _sessions.GetValueOrDefault(sessionId);

    /// <summary>
    /// Admits one step. Missing: a session holds fewer positions than its entry starts at (unknown sessions hold
    /// none, so only a start of 0 creates one), unless the entry names a prefix source that holds its prefix's tokens
    /// (then the session will copy them: a prefix-cache hit). Over budget: the caches' growth does not fit even after
    /// evicting every idle session outside the step; then nothing is evicted. Otherwise evicts idle sessions (retained
    /// prefixes first, then parked sessions, least recently used first, never a prefix source of this step) until the
    /// growth fits, creates the new sessions and marks every session of the step active.
    /// </summary>
    public CacheAdmission Admit(IReadOnlyList<CacheRequest> requests)
    {
        var copies = new (StageSession Source, int Length)?[requests.Count];
        var missing = new List<string>();
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i];
            var own = Find(request.SessionId);
            if (request.Prefix is { } prefix && own?.Holds(prefix.TokenIds) != true)
            {
                if (Find(prefix.SessionId) is { } source && source != own && source.Holds(prefix.TokenIds))
                {
                    copies[i] = (source, prefix.TokenIds.Length);
                }
                else
                {
                    missing.Add(request.SessionId);
                }
            }
            else if ((own?.Length ?? 0) < request.StartPosition)
            {
                missing.Add(request.SessionId);
            }
        }
        if (missing.Count > 0)
        {
            return CacheAdmission.Missing(missing);
        }

        var growth = requests.Select((r, i) => Growth(r, copies[i] is not null)).ToArray();
        var used = UsedBytes;
        if (used + growth.Sum() > BudgetBytes) // only then the idle sessions are ranked: retained caches make them many
        {
            var kept = requests.Select(r => r.SessionId).Concat(copies.Where(c => c is not null).Select(c => c!.Value.Source.Id)).ToHashSet(StringComparer.Ordinal);
            var evictable = _sessions.Values.Where(s => s.IsIdle && !kept.Contains(s.Id))
                .OrderByDescending(s => s.IsRetainedPrefix).ThenBy(s => s.UseSequence).ToList();
            var room = BudgetBytes - used + evictable.Sum(s => s.Bytes);
            if (growth.Sum() > room)
            {
                return CacheAdmission.OverBudget(EntriesBeyond(requests, growth, room));
            }
            foreach (var victim in evictable.TakeWhile(_ => used + growth.Sum() > BudgetBytes))
            {
                used -= victim.Bytes;
                Remove(victim);
                Evictions++;
            }
        }

        var created = new List<StageSession>();
        var sessions = new StageSession[requests.Count];
        for (var i = 0; i < requests.Count; i++)
        {
            if (Find(requests[i].SessionId) is not { } session)
            {
                session = new StageSession(requests[i].SessionId);
                _sessions.Add(session.Id, session);
                created.Add(session);
            }
            session.IsIdle = false;
            session.IsRetainedPrefix = false;
            session.PendingCopy = copies[i];
            if (copies[i] is { } copy)
            {
                Touch(copy.Source); // a prefix in use is recent: the last to be evicted among the retained
                PrefixHitTokens += copy.Length;
            }
            Touch(session);
            sessions[i] = session;
        }
        return new CacheAdmission(sessions, created, [], []);
    }

    /// <summary>
    /// After a step failed: sessions it created are dropped with whatever was allocated for them; the others keep
    /// their caches (a truncation already done is what a retry of the step does anyway) and a history that matches.
    /// </summary>
    public void Abandon(CacheAdmission admission)
    {
        foreach (var session in admission.Created)
        {
            Remove(session);
        }
        foreach (var session in admission.Sessions.Except(admission.Created))
        {
            session.PendingCopy = null;
            session.TrimHistoryToCache();
        }
    }

    /// <summary>Parked and retained sessions become idle (evictable, expiring; retained ones evicted first); freed ones go now.</summary>
    public void Release(IEnumerable<string> sessionIds, CacheRelease release)
    {
        foreach (var id in sessionIds)
        {
            if (Find(id) is not { } session)
            {
                continue;
            }
            if (release == CacheRelease.Free)
            {
                Remove(session);
                continue;
            }
            session.IsIdle = true;
            session.IsRetainedPrefix = release == CacheRelease.Retain;
            Touch(session);
        }
    }

    /// <summary>
    /// Frees sessions unused for longer than <paramref name="expiry"/>: idle ones, and active ones too, whose request
    /// has not stepped for that long (its gateway died without releasing them). Returns how many.
    /// </summary>
    public int Expire(TimeSpan expiry)
    {
        var now = clock.GetUtcNow();
        var expired = _sessions.Values.Where(s => now - s.LastUsed > expiry).ToList();
        foreach (var session in expired)
        {
            Remove(session);
        }
        return expired.Count;
    }

    // A copied prefix replaces whatever cache the session had with a new one.
    private long Growth(CacheRequest request, bool copiesPrefix) => Find(request.SessionId) is { } session
        ? (copiesPrefix ? KvCache.InitialCapacity(request.ReserveTokens) * BytesPerToken : session.BytesAfterReserve(request.ReserveTokens, BytesPerToken)) - session.Bytes
        : KvCache.InitialCapacity(request.ReserveTokens) * BytesPerToken;

    // The entries that do not fit when admitted in order: what the gateway should hold back.
    private static string[] EntriesBeyond(IReadOnlyList<CacheRequest> requests, long[] growth, long room)
    {
        var over = new List<string>();
        var total = 0L;
        for (var i = 0; i < requests.Count; i++)
        {
            total += growth[i];
            if (total > room)
            {
                over.Add(requests[i].SessionId);
                total -= growth[i];
            }
        }
        return over.ToArray();
    }

    private void Touch(StageSession session)
    {
        session.LastUsed = clock.GetUtcNow();
        session.UseSequence = ++_useSequence;
    }

    private void Remove(StageSession session)
    {
        _sessions.Remove(session.Id);
        session.Dispose();
    }

    public void Dispose()
    {
        foreach (var session in _sessions.Values)
        {
            session.Dispose();
        }
        _sessions.Clear();
    }
}
