namespace Cluster.Contracts.Sessions;

/// <summary>
/// A conversation: its model, the replica whose stages cache it, and its token history, addressable by id from any
/// gateway. One turn at a time. The KV caches live on the stages; this grain only remembers what they should hold,
/// so a stage that lost them can be refilled by replaying <see cref="SessionSnapshot.History"/>.
/// </summary>
public interface ISessionGrain : IGrainWithStringKey
{
    /// <summary>Creates the session for <paramref name="model"/> on <paramref name="replica"/>; false if it already exists.</summary>
    Task<bool> Create(string model, int replica);

    /// <summary>Starts a turn: returns the history, or null when the session does not exist. Throws <see cref="SessionBusyException"/> during another turn.</summary>
    Task<SessionSnapshot?> BeginTurn(string requestId);

    /// <summary>
    /// Ends the turn <paramref name="requestId"/>: the history becomes <paramref name="history"/>, of which the stages
    /// hold the first <paramref name="cachedLength"/> positions.
    /// </summary>
    Task EndTurn(string requestId, int[] history, int cachedLength);

    /// <summary>Forgets the session; returns what it was (null if it did not exist) so the caller can free its stages.</summary>
    Task<SessionSnapshot?> Delete();
}

/// <summary>A session's state at the start of a turn.</summary>
[GenerateSerializer, Immutable]
public sealed record SessionSnapshot(
    [property: Id(0)] string Model,
    [property: Id(1)] int Replica,
    [property: Id(2)] int[] History,
    [property: Id(3)] int CachedLength);

/// <summary>Thrown by <see cref="ISessionGrain.BeginTurn"/> while another turn of the same session runs.</summary>
[GenerateSerializer]
public sealed class SessionBusyException(string message) : Exception(message);
