using Cluster.Contracts.Sessions;
using Cluster.Gateway.Models;
using Cluster.Gateway.Scheduling;
using Grpc.Core;

namespace Cluster.Gateway.Services;

/// <summary>
/// One turn of a session: begun before the request is scheduled, renewed on the session grain while it runs (so a
/// turn whose gateway died times out soon and the session is free again), ended with the tokens and cached length it
/// leaves.
/// </summary>
internal sealed class SessionTurn
{
    private readonly ISessionGrain _grain;
    private readonly string _requestId;
    private readonly CancellationTokenSource _stopRenewing = new();
    private readonly Task _renewing;

    private SessionTurn(ISessionGrain grain, string sessionId, string requestId, SessionSnapshot snapshot, TimeSpan renewPeriod)
    {
        _grain = grain;
        _requestId = requestId;
        SessionId = sessionId;
        Snapshot = snapshot;
        _renewing = RenewAsync(renewPeriod, _stopRenewing.Token);
    }

    public string SessionId { get; }
    public SessionSnapshot Snapshot { get; }

    /// <summary>
    /// Null for a one-shot request (no session id). NOT_FOUND, PERMISSION_DENIED (another API key's session),
    /// FAILED_PRECONDITION or INVALID_ARGUMENT as the session requires.
    /// </summary>
    public static async Task<SessionTurn?> BeginAsync(IGrainFactory grains, string sessionId, string requestId, ServedModel model, string owner, TimeSpan renewPeriod)
    {
        if (string.IsNullOrEmpty(sessionId))
        {
            return null;
        }
        var grain = grains.GetGrain<ISessionGrain>(sessionId);
        SessionSnapshot? snapshot;
        try
        {
            snapshot = await grain.BeginTurn(requestId, owner);
        }
        catch (SessionOwnedByAnotherException other)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, other.Message));
        }
        catch (SessionBusyException busy)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, busy.Message));
        }
        if (snapshot is null)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"Session '{sessionId}' does not exist (never created, deleted, or expired)."));
        }
        var turn = new SessionTurn(grain, sessionId, requestId, snapshot, renewPeriod);
        if (snapshot.Model != model.Name)
        {
            await turn.EndAsync(null);
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"Session '{sessionId}' belongs to model '{snapshot.Model}', not '{model.Name}'."));
        }
        return turn;
    }

    /// <summary>
    /// Records what the turn leaves: the sequence's tokens and how many the stages hold. Waits for the scheduler to
    /// finish with the sequence first (a cancelled one stops at its next step), so the record is consistent.
    /// </summary>
    public async Task EndAsync(RunningSequence? sequence)
    {
        try
        {
            await EndTurnAsync(sequence);
        }
        finally
        {
            await _stopRenewing.CancelAsync();
            await _renewing;
            _stopRenewing.Dispose();
        }
    }

    private async Task EndTurnAsync(RunningSequence? sequence)
    {
        if (sequence is null)
        {
            await _grain.EndTurn(_requestId, Snapshot.History, Snapshot.CachedLength);
            return;
        }
        // Set once the scheduler has retired the sequence (finished, failed or cancelled) and the stages answered its
        // release. Not the output channel's completion: that also waits for every message to be read, which never
        // happens when the client went away mid-stream, and the turn would then never end.
        await sequence.StagesReleased.Task;
        await _grain.EndTurn(_requestId, [.. sequence.Tokens], sequence.ComputedLength);
    }

    private async Task RenewAsync(TimeSpan period, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    await _grain.RenewTurn(_requestId);
                }
                catch (Exception) when (!stop.IsCancellationRequested)
                {
                    // A renewal lost to a failover: the next one (or the stored turn) still holds the session.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
