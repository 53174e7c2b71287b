using Cluster.Contracts.Sessions;
using Cluster.Silo.Stages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Cluster.Silo.Sessions;

/// <summary>
/// A conversation's history (see <see cref="ISessionGrain"/>), written to grain storage at every change
/// (the grain storage <see cref="StorageName"/>: Redis with Redis membership, else memory), so a session outlives the silo
/// that held it: the next turn activates it elsewhere with its history, and stages that lost its caches replay it.
/// One turn at a time; a turn that its gateway neither ends nor renews stops blocking after <see cref="SessionOptions.TurnTimeout"/>:
/// then another request may begin a turn, and the stale turn's <see cref="EndTurn"/> is refused. A session unused for
/// an hour is collected and forgotten (its stage caches will have expired long before).
/// </summary>
[CollectionAgeLimit(Minutes = 60)]
public sealed class SessionGrain(
    IOptions<SessionOptions> options,
    [FromKeyedServices(StageClock.Key)] TimeProvider clock,
    [PersistentState("session", SessionGrain.StorageName)] IPersistentState<SessionRecord> stored) : Grain, ISessionGrain
{
    /// <summary>The grain storage session grains write to (configured by the silo host: UseSessionStorage).</summary>
    public const string StorageName = "sessions";

    private SessionSnapshot? Session
    {
        get => stored.State.Session;
        set => stored.State.Session = value;
    }

    private string? Turn
    {
        get => stored.State.Turn;
        set => stored.State.Turn = value;
    }

    private DateTimeOffset TurnStarted
    {
        get => stored.State.TurnStarted;
        set => stored.State.TurnStarted = value;
    }

    public async Task<bool> Create(string model, int replica, string owner = SessionOwner.Anonymous)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentOutOfRangeException.ThrowIfNegative(replica);
        ArgumentNullException.ThrowIfNull(owner);
        if (Session is not null)
        {
            return false;
        }
        Session = new SessionSnapshot(model, replica, [], 0, owner);
        await stored.WriteStateAsync();
        return true;
    }

    public async Task<SessionSnapshot?> BeginTurn(string requestId, string owner = SessionOwner.Anonymous)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        if (Session is null)
        {
            return null;
        }
        CheckOwner(owner);
        if (Turn is not null && Turn != requestId && clock.GetUtcNow() - TurnStarted < options.Value.TurnTimeout)
        {
            throw new SessionBusyException($"Session '{this.GetPrimaryKeyString()}' is busy with request '{Turn}'; one turn at a time.");
        }
        Turn = requestId;
        TurnStarted = clock.GetUtcNow();
        await stored.WriteStateAsync(); // so the turn can end on another silo if this one dies while it runs
        return Session;
    }

    public async Task EndTurn(string requestId, int[] history, int cachedLength)
    {
        ArgumentNullException.ThrowIfNull(history);
        if (Session is null || Turn != requestId)
        {
            throw new InvalidOperationException($"Session '{this.GetPrimaryKeyString()}' has no running turn '{requestId}' (ended, timed out and taken over, or the session was deleted).");
        }
        if (cachedLength < 0 || cachedLength > history.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(cachedLength), $"Cached length {cachedLength} is outside the history of {history.Length} tokens.");
        }
        Session = Session with { History = history, CachedLength = cachedLength };
        Turn = null;
        await stored.WriteStateAsync();
    }

    public Task<bool> RenewTurn(string requestId)
    {
        if (Session is null || Turn != requestId)
        {
            return Task.FromResult(false);
        }
        // In memory only: after a crash the stored start is older, so the turn times out sooner, which is what a dead
        // silo's turns should do; its gateway's EndTurn is still accepted until another request takes over.
        TurnStarted = clock.GetUtcNow();
        return Task.FromResult(true);
    }

    public async Task<SessionSnapshot?> Delete(string owner = SessionOwner.Anonymous)
    {
        if (Session is not null)
        {
            CheckOwner(owner);
        }
        var state = Session;
        if (state is not null)
        {
            await stored.ClearStateAsync();
        }
        DeactivateOnIdle();
        return state;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // Unused for the collection age: forgotten, as before storage. Any other reason (shutdown, migration, a failure)
        // keeps it, so the next turn finds it wherever it activates.
        if (reason.ReasonCode == DeactivationReasonCode.ActivationIdle && stored.RecordExists)
        {
            await stored.ClearStateAsync(cancellationToken);
        }
    }

    /// <summary>Checked before anything else, so another tenant can neither read, block (by a turn) nor delete the session.</summary>
    private void CheckOwner(string owner)
    {
        if (!string.Equals(Session!.Owner, owner, StringComparison.Ordinal))
        {
            throw new SessionOwnedByAnotherException($"Session '{this.GetPrimaryKeyString()}' belongs to another API key.");
        }
    }
}
