using Cluster.Contracts.Sessions;
using Cluster.Silo.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Cluster.Silo.Sessions;

/// <summary>
/// A conversation's history in memory (see <see cref="ISessionGrain"/>). One turn at a time; a turn that its gateway
/// never ends stops blocking after <see cref="SessionOptions.TurnTimeout"/>: then another request may begin a turn, and
/// the stale turn's <see cref="EndTurn"/> is refused. The state lives as long as the activation: a session unused for
/// an hour is collected and forgotten (its stage caches will have expired long before).
/// </summary>
[CollectionAgeLimit(Minutes = 60)]
public sealed class SessionGrain(IOptions<SessionOptions> options, [FromKeyedServices(StageClock.Key)] TimeProvider clock) : Grain, ISessionGrain
{
    private SessionSnapshot? _state;
    private string? _turn;
    private DateTimeOffset _turnStarted;

    public Task<bool> Create(string model, int replica, string owner = SessionOwner.Anonymous)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        ArgumentOutOfRangeException.ThrowIfNegative(replica);
        ArgumentNullException.ThrowIfNull(owner);
        if (_state is not null)
        {
            return Task.FromResult(false);
        }
        _state = new SessionSnapshot(model, replica, [], 0, owner);
        return Task.FromResult(true);
    }

    public Task<SessionSnapshot?> BeginTurn(string requestId, string owner = SessionOwner.Anonymous)
    {
        ArgumentException.ThrowIfNullOrEmpty(requestId);
        if (_state is null)
        {
            return Task.FromResult<SessionSnapshot?>(null);
        }
        CheckOwner(owner);
        if (_turn is not null && _turn != requestId && clock.GetUtcNow() - _turnStarted < options.Value.TurnTimeout)
        {
            throw new SessionBusyException($"Session '{this.GetPrimaryKeyString()}' is busy with request '{_turn}'; one turn at a time.");
        }
        _turn = requestId;
        _turnStarted = clock.GetUtcNow();
        return Task.FromResult<SessionSnapshot?>(_state);
    }

    public Task EndTurn(string requestId, int[] history, int cachedLength)
    {
        ArgumentNullException.ThrowIfNull(history);
        if (_state is null || _turn != requestId)
        {
            throw new InvalidOperationException($"Session '{this.GetPrimaryKeyString()}' has no running turn '{requestId}' (ended, timed out and taken over, or the session was deleted).");
        }
        if (cachedLength < 0 || cachedLength > history.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(cachedLength), $"Cached length {cachedLength} is outside the history of {history.Length} tokens.");
        }
        _state = _state with { History = history, CachedLength = cachedLength };
        _turn = null;
        return Task.CompletedTask;
    }

    public Task<SessionSnapshot?> Delete(string owner = SessionOwner.Anonymous)
    {
        if (_state is not null)
        {
            CheckOwner(owner);
        }
        var state = _state;
        _state = null;
        _turn = null;
        DeactivateOnIdle();
        return Task.FromResult(state);
    }

    /// <summary>Checked before anything else, so another tenant can neither read, block (by a turn) nor delete the session.</summary>
    private void CheckOwner(string owner)
    {
        if (!string.Equals(_state!.Owner, owner, StringComparison.Ordinal))
        {
            throw new SessionOwnedByAnotherException($"Session '{this.GetPrimaryKeyString()}' belongs to another API key.");
        }
    }
}
