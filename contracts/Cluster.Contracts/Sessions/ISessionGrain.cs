namespace Cluster.Contracts.Sessions;

/// <summary>
/// A conversation: its model, the replica whose stages cache it, and its token history, addressable by id from any
/// gateway. One turn at a time. The KV caches live on the stages; this grain only remembers what they should hold,
/// so a stage that lost them can be refilled by replaying <see cref="SessionSnapshot.History"/>.
/// A session belongs to the tenant (API key name) that created it: only the same owner may begin a turn or delete it,
/// others get <see cref="SessionOwnedByAnotherException"/>. Without API keys every owner is <see cref="SessionOwner.Anonymous"/>.
/// </summary>
public interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>Creates the session for <paramref name="model"/> on <paramref name="replica"/>, owned by <paramref name="owner"/>; false if it already exists.</summary>
    Task<bool> Create(string model, int replica, string owner = SessionOwner.Anonymous);

    /// <summary>
    /// Starts a turn: returns the history, or null when the session does not exist. Throws
    /// <see cref="SessionOwnedByAnotherException"/> when <paramref name="owner"/> is not the session's owner, and
    /// <see cref="SessionBusyException"/> during another turn.
    /// </summary>
    Task<SessionSnapshot?> BeginTurn(string requestId, string owner = SessionOwner.Anonymous);

    /// <summary>
    /// Ends the turn <paramref name="requestId"/>: the history becomes <paramref name="history"/>, of which the stages
    /// hold the first <paramref name="cachedLength"/> positions.
    /// </summary>
    Task EndTurn(string requestId, int[] history, int cachedLength);

    /// <summary>
    /// Keeps the running turn <paramref name="requestId"/> from timing out: its gateway calls it while the turn runs,
    /// so a turn whose gateway died stops blocking the session soon. False when the turn is no longer running (ended,
    /// taken over after a timeout, or the session deleted).
    /// </summary>
    Task<bool> RenewTurn(string requestId);

    /// <summary>
    /// Forgets the session; returns what it was (null if it did not exist) so the caller can free its stages.
    /// Throws <see cref="SessionOwnedByAnotherException"/>, and keeps the session, when <paramref name="owner"/> is not its owner.
    /// </summary>
    Task<SessionSnapshot?> Delete(string owner = SessionOwner.Anonymous);
}

/// <summary>Who owns a session: the name of the API key that created it (never the key itself).</summary>
public static class SessionOwner
{
    /// <summary>The owner when the gateway has no API keys configured.</summary>
    public const string Anonymous = "";
}

/// <summary>A session's state at the start of a turn.</summary>
[GenerateSerializer, Immutable]
public sealed record SessionSnapshot(
    [property: Id(0)] string Model,
    [property: Id(1)] int Replica,
    [property: Id(2)] int[] History,
    [property: Id(3)] int CachedLength,
    [property: Id(4)] string Owner = SessionOwner.Anonymous);

/// <summary>Thrown by <see cref="ISessionGrain.BeginTurn"/> while another turn of the same session runs.</summary>
[GenerateSerializer]
public sealed class SessionBusyException(string message) : Exception(message);

/// <summary>Thrown when a tenant other than the session's owner begins a turn of it or deletes it.</summary>
[GenerateSerializer]
public sealed class SessionOwnedByAnotherException(string message) : Exception(message);
