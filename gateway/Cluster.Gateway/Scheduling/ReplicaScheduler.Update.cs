using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Cluster.Gateway.Telemetry;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// Update: what a micro-batch brought back is applied to its sequences (each token through the output step, a replay
/// or a retry arranged), and sequences that end are retired and their caches released.
/// </summary>
internal sealed partial class ReplicaScheduler
{
    private void Apply(SchedulerEvent.Completed completed)
    {
        if (completed.Error is { } error)
        {
            ApplyFailure(completed, error);
            return;
        }
        _failover.Succeeded();
        var outcome = completed.Outcome!;
        if (outcome.MissingSessions.Count > 0 || outcome.OverBudgetSessions.Count > 0)
        {
            // Nothing was applied: every sequence of the step goes again at the next one. A sequence whose cache a
            // stage lost replays its whole history from position 0 (steps are idempotent per position).
            foreach (var chunk in completed.Chunks)
            {
                var sequence = chunk.Sequence;
                StepDidNotApply(sequence);
                if (!chunk.Applies)
                {
                    FinishIfCancelled(sequence);
                    continue;
                }
                sequence.Steps.Add(outcome);
                if (outcome.MissingSessions.Contains(sequence.StageSessionId))
                {
                    _logger.LogInformation("Stage {Stage} no longer holds {Session}; replaying its {Tokens} tokens.", outcome.RefusedBy, sequence.StageSessionId, sequence.ComputedLength);
                    ForgetMissingPrefix(sequence);
                    sequence.ComputedLength = 0;
                    sequence.CachedAtStart = 0;
                }
                if (outcome.OverBudgetSessions.Contains(sequence.StageSessionId))
                {
                    WaitForStageRoom(sequence, outcome.RefusedBy);
                }
                else
                {
                    FinishIfCancelled(sequence);
                }
            }
            return;
        }
        var sampled = outcome.Tokens.ToDictionary(t => t.SessionId);
        var scored = outcome.Scores?.ToDictionary(s => s.SessionId);
        foreach (var chunk in completed.Chunks)
        {
            var sequence = chunk.Sequence;
            if (!chunk.Applies)
            {
                StepDidNotApply(sequence);
                FinishIfCancelled(sequence);
                continue;
            }
            sequence.StepsInFlight--;
            sequence.Steps.Add(outcome);
            sequence.ComputedLength = chunk.Start + chunk.Length;
            if (scored?.GetValueOrDefault(sequence.StageSessionId) is { } scores)
            {
                sequence.PromptScores?.Record(scores);
            }
            RecordComputedPrefix(sequence);
            if (chunk.Samples)
            {
                if (!sampled.TryGetValue(sequence.StageSessionId, out var token))
                {
                    Fail(sequence, new RpcException(new Status(StatusCode.Internal, $"The last stage returned no token for {sequence.StageSessionId} at step {completed.StepId}.")));
                    continue;
                }
                AppendToken(sequence, token);
            }
            FinishIfCancelled(sequence);
        }
    }

    /// <summary>
    /// A step of the sequence came back without its token applied (failed, refused, or a continuation whose step
    /// before it did not apply). A step still in flight may be a continuation of this one and cannot apply either, so
    /// nothing more continues on it: the sequence steps again once that one is back (no chain of continuations each
    /// stacked on one that will be refused).
    /// </summary>
    private static void StepDidNotApply(RunningSequence sequence)
    {
        sequence.StepsInFlight--;
        sequence.LatestStepSamples = false;
    }

    private void FinishIfCancelled(RunningSequence sequence)
    {
        if (!sequence.Finished && sequence.CancelRequested)
        {
            Finish(sequence, FinishReason.Cancelled);
        }
    }

    /// <summary>
    /// A step threw. An unreachable stage (its silo died or is stopping) puts the step's sequences back, as if the step
    /// had never been sent: they keep what the stages computed before it, and a stage re-sent positions it holds just
    /// computes them again. The retry finds the stage's next activation, which answers MissingSessions if it lost the
    /// caches, and the replay rebuilds them. Any other error, or the failover window spent, fails the sequences.
    /// </summary>
    private void ApplyFailure(SchedulerEvent.Completed completed, Exception error)
    {
        var transient = TransientStageErrors.IsTransient(error);
        if (transient && _failover.TryRetry(out var wakeAfter))
        {
            _logger.LogWarning("Step {StepId} failed ({Reason}); its {Count} sequences retry, {FailingFor:F1} s into the failover window.",
                completed.StepId, error.Message, completed.Chunks.Count, _failover.FailingFor.TotalSeconds);
            foreach (var chunk in completed.Chunks)
            {
                StepDidNotApply(chunk.Sequence);
                FinishIfCancelled(chunk.Sequence);
            }
            if (wakeAfter is { } delay)
            {
                _ = WakeAfterAsync(delay);
            }
            return;
        }
        _logger.LogWarning(error, "Step {StepId} failed.", completed.StepId);
        var status = transient ? GiveUp(error) : ToRpcException(error);
        foreach (var chunk in completed.Chunks)
        {
            StepDidNotApply(chunk.Sequence);
            Fail(chunk.Sequence, status);
        }
    }

    private RpcException GiveUp(Exception error)
    {
        var stage = error is StageCallException call ? $"Stage {call.Stage}" : "A stage";
        return new RpcException(new Status(StatusCode.Unavailable,
            $"{stage} has been unreachable for {_failover.FailingFor.TotalSeconds:F1} s (failover window {_options.FailoverTimeout.TotalSeconds:F0} s): {(error.InnerException ?? error).Message}"));
    }

    private async Task WakeAfterAsync(TimeSpan delay)
    {
        await Task.Delay(delay, _time);
        _events.Writer.TryWrite(new SchedulerEvent.RetryDue());
    }

    private void AppendToken(RunningSequence sequence, SampledTokenResult token)
    {
        RecordToken(sequence);
        var finish = _output.Append(sequence, token, out var message);
        if (finish != FinishReason.Unspecified)
        {
            Finish(sequence, finish, message);
        }
    }

    private void Finish(RunningSequence sequence, FinishReason reason, GenerateResponse? last = null)
    {
        if (sequence.Finished)
        {
            return;
        }
        if (reason == FinishReason.Cancelled && sequence.Deadline <= _time.GetUtcNow().UtcDateTime)
        {
            // Stopped because the client's deadline passed (by its cancellation or by StopPastDeadline): the call ends
            // as gRPC says a call past its deadline ends, whichever of the two got here first.
            Fail(sequence, new RpcException(new Status(StatusCode.DeadlineExceeded,
                $"The request's deadline passed after {sequence.Generated} generated tokens; generation stopped.")));
            return;
        }
        sequence.Output.Write(_output.Closing(sequence, reason, last));
        Retire(sequence, ranToItsEnd: reason != FinishReason.Cancelled); // before the stream ends, so a client that sends its next request at once finds the room it left
        sequence.Output.Complete();
    }

    private void Fail(RunningSequence sequence, Exception error)
    {
        if (sequence.Finished)
        {
            return;
        }
        Retire(sequence, ranToItsEnd: false);
        sequence.Output.Complete(error);
    }

    private void Retire(RunningSequence sequence, bool ranToItsEnd)
    {
        sequence.Finished = true;
        Interlocked.Decrement(ref _load);
        var model = GatewayTelemetry.ModelTag(sequence.Request.Model);
        var reserved = _running.Remove(sequence) ? sequence.ReserveTokens : 0;
        if (reserved > 0)
        {
            GatewayTelemetry.RequestsRunning.Add(-1, model);
        }
        else if (_waiting.Remove(sequence))
        {
            GatewayTelemetry.RequestsWaiting.Add(-1, model);
        }
        GatewayTelemetry.RequestLatency.Record(sequence.Clock.Elapsed.TotalSeconds, model);
        _ = ReleaseAsync(sequence, ReleaseOf(sequence, ranToItsEnd), reserved);
    }

    /// <summary>
    /// Frees (or parks) the cache on every stage, then gives its reserved positions back to the replica: not before,
    /// or the next admitted sequence could reach a stage ahead of the release and find no room there.
    /// </summary>
    private async Task ReleaseAsync(RunningSequence sequence, CacheRelease release, int reservedPositions)
    {
        try
        {
            await _pipeline.ReleaseAsync([sequence.StageSessionId], release);
        }
        catch (Exception ex)
        {
            // The stages' idle expiry frees what a lost release leaves behind.
            _logger.LogWarning(ex, "Releasing {Session} on the stages failed.", sequence.StageSessionId);
        }
        sequence.StagesReleased.TrySetResult();
        if (reservedPositions > 0)
        {
            _events.Writer.TryWrite(new SchedulerEvent.Released(reservedPositions));
        }
    }

    private static RpcException ToRpcException(Exception error) => error switch
    {
        StageCallException call => ToRpcException(call.InnerException!),
        RpcException rpc => rpc,
        ArgumentException argument => new RpcException(new Status(StatusCode.InvalidArgument, argument.Message)),
        // Unreachable-stage errors never come here: they are transient, retried, and end in GiveUp's UNAVAILABLE.
        _ => new RpcException(new Status(StatusCode.Internal, $"A stage failed: {error.GetType().Name}: {error.Message}")),
    };
}
