using Cluster.Contracts.Sessions;
using Cluster.Gateway.Models;
using Cluster.Gateway.Scheduling;
using Grpc.Core;

namespace Cluster.Gateway.Services;

/// <summary>One turn of a session: begun before the request is scheduled, ended with the tokens and cached length it leaves.</summary>
internal sealed class SessionTurn(ISessionGrain grain, string sessionId, string requestId, SessionSnapshot snapshot)
{
    public string SessionId { get; } = sessionId;
    public SessionSnapshot Snapshot { get; } = snapshot;

    /// <summary>
    /// Null for a one-shot request (no session id). NOT_FOUND, PERMISSION_DENIED (another API key's session),
    /// FAILED_PRECONDITION or INVALID_ARGUMENT as the session requires.
    /// </summary>
    public static async Task<SessionTurn?> BeginAsync(IGrainFactory grains, string sessionId, string requestId, ServedModel model, string owner)
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
        var turn = new SessionTurn(grain, sessionId, requestId, snapshot);
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
        if (sequence is null)
        {
            await grain.EndTurn(requestId, Snapshot.History, Snapshot.CachedLength);
            return;
        }
        try
        {
            await sequence.Output.Reader.Completion;
        }
        catch (Exception)
        {
            // The failure already went to the client; the tokens computed so far still stand.
        }
        await sequence.StagesReleased.Task;
        await grain.EndTurn(requestId, [.. sequence.Tokens], sequence.ComputedLength);
    }
}
