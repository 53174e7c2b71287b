using System.Diagnostics;
using System.Threading.Channels;
using Cluster.Gateway.Admission;
using Cluster.Gateway.Telemetry;
using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// Continuous batching for one replica of a model: at every step it forms a micro-batch from the running sequences
/// that are not in flight (new ones join at the next step), keeps up to one micro-batch per stage in flight so all
/// stages compute at once, and applies what comes back (append the token, stream it, check the stop rules).
/// Schedule, execute and update are separate: all state lives in one loop that reads events, so nothing is locked.
/// </summary>
internal sealed class ReplicaScheduler : IAsyncDisposable
{
    private readonly PipelineDriver _pipeline;
    private readonly ReplicaCapacity _capacity;
    private readonly SchedulerOptions _options;
    private readonly TokenResponses _responses;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly StepFailover _failover;
    private readonly Channel<SchedulerEvent> _events = Channel.CreateUnbounded<SchedulerEvent>(new() { SingleReader = true });
    private readonly LinkedList<RunningSequence> _waiting = new();
    private readonly List<RunningSequence> _running = [];
    private readonly Task _loop;
    private int _inFlight;
    private long _nextStepId;
    private int _load;

    public ReplicaScheduler(PipelineDriver pipeline, ReplicaCapacity capacity, SchedulerOptions options, TokenResponses responses, ILogger logger,
        TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _failover = new StepFailover(options, _time);
        _pipeline = pipeline;
        _capacity = capacity;
        _options = options;
        _responses = responses;
        _logger = logger;
        _loop = Task.Run(RunLoopAsync);
    }

    /// <summary>Requests waiting or running: what replica choice balances.</summary>
    public int Load => Volatile.Read(ref _load);

    private int MicroBatchesInFlight => _options.MicroBatchesInFlight > 0 ? _options.MicroBatchesInFlight : _pipeline.StageCount;

    /// <summary>Queues a sequence; its output stream starts at the next step that has room for it.</summary>
    /// <param name="onAccepted">
    /// Runs once the queue has taken the sequence and before it can run (the per-key token charge): a request refused for
    /// room costs its key nothing. If it throws, the sequence is not queued and the exception propagates.
    /// </param>
    public void Submit(RunningSequence sequence, Action? onAccepted = null)
    {
        var needed = _capacity.TokensReserved(sequence.ReserveTokens);
        if (needed > _capacity.Tokens)
        {
            GatewayTelemetry.RequestsRefused.Add(1, GatewayTelemetry.RefusalTags(sequence.Request.Model, "too_large"));
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"The request needs {sequence.ReserveTokens} positions of KV cache (prompt + max_new_tokens); a replica's stages hold at most {_capacity.Tokens}. Lower max_new_tokens or the prompt."));
        }
        if (Interlocked.Increment(ref _load) > _options.MaxWaitingRequests + _options.MaxRunningSequences)
        {
            Interlocked.Decrement(ref _load);
            GatewayTelemetry.RequestsRefused.Add(1, GatewayTelemetry.RefusalTags(sequence.Request.Model, "queue_full"));
            throw QueueFull();
        }
        try
        {
            onAccepted?.Invoke();
        }
        catch
        {
            Interlocked.Decrement(ref _load);
            throw;
        }
        _events.Writer.TryWrite(new SchedulerEvent.Arrived(sequence));
    }

    /// <summary>Stops a sequence at its next step (client cancelled, deadline passed) and frees its caches.</summary>
    public void Cancel(RunningSequence sequence) => _events.Writer.TryWrite(new SchedulerEvent.Cancelled(sequence));

    private async Task RunLoopAsync()
    {
        Activity.Current = null; // the loop outlives whatever request's context created the scheduler
        await foreach (var e in _events.Reader.ReadAllAsync())
        {
            try
            {
                Handle(e);
                Admit();
                RefuseBeyondQueue();
                Launch();
            }
            catch (Exception ex)
            {
                // A bug here must not silently stall every request of the replica: fail what is running and go on.
                _logger.LogError(ex, "Scheduler step failed; failing the running sequences.");
                foreach (var sequence in _running.Concat(_waiting).ToList())
                {
                    Fail(sequence, new RpcException(new Status(StatusCode.Internal, $"Scheduler failure: {ex.Message}")));
                }
            }
        }
    }

    private void Handle(SchedulerEvent e)
    {
        switch (e)
        {
            case SchedulerEvent.Arrived arrived:
                _waiting.AddLast(arrived.Sequence);
                GatewayTelemetry.RequestsWaiting.Add(1, GatewayTelemetry.ModelTag(arrived.Sequence.Request.Model));
                break;
            case SchedulerEvent.BackToWaiting back:
                ReturnToWaiting(back.Sequence);
                break;
            case SchedulerEvent.Cancelled cancelled:
                var sequence = cancelled.Sequence;
                if (sequence.Finished)
                {
                    break;
                }
                if (sequence.InFlight)
                {
                    sequence.CancelRequested = true; // finished when its micro-batch comes back
                }
                else
                {
                    Finish(sequence, FinishReason.Cancelled);
                }
                break;
            case SchedulerEvent.Completed completed:
                _inFlight--;
                Apply(completed);
                break;
            case SchedulerEvent.Released released:
                _capacity.Release(released.ReservedPositions);
                break;
            case SchedulerEvent.RetryDue:
                _failover.RetryDue();
                break;
        }
    }

    private void Admit()
    {
        while (_waiting.First is { } node && _running.Count < _options.MaxRunningSequences)
        {
            var sequence = node.Value;
            if (!_capacity.TryReserve(sequence.ReserveTokens))
            {
                break; // first come, first served: a big request is not overtaken forever by small ones
            }
            _waiting.RemoveFirst();
            _running.Add(sequence);
            if (sequence.QueueTime is null)
            {
                sequence.QueueTime = sequence.Clock.Elapsed;
                RecordAdmission(sequence, sequence.QueueTime.Value);
            }
            else
            {
                RecordReadmission(sequence); // back from waiting for a stage's room: its queue time and prompt are already counted
            }
        }
    }

    /// <summary>
    /// Submit bounds waiting + running; when the KV budget, not <see cref="SchedulerOptions.MaxRunningSequences"/>, is
    /// what keeps sequences waiting, that alone would let the queue grow past <see cref="SchedulerOptions.MaxWaitingRequests"/>.
    /// What is left waiting beyond it once admission has taken its fill is refused now, newest first, rather than
    /// waiting for a place it was promised it would not wait for. Sequences back from waiting for a stage's room keep theirs.
    /// </summary>
    private void RefuseBeyondQueue()
    {
        var node = _waiting.Last;
        var excess = _waiting.Count - _options.MaxWaitingRequests;
        while (excess > 0 && node is not null)
        {
            var sequence = node.Value;
            node = node.Previous;
            if (sequence.StageRoomRefusals > 0)
            {
                continue;
            }
            GatewayTelemetry.RequestsRefused.Add(1, GatewayTelemetry.RefusalTags(sequence.Request.Model, "queue_full"));
            Fail(sequence, QueueFull());
            excess--;
        }
    }

    private RpcException QueueFull() =>
        Overloaded.Exception($"The queue is full ({_options.MaxWaitingRequests} waiting requests); retry later.", _options.RetryAfter);

    private void Launch()
    {
        while (_inFlight < MicroBatchesInFlight && !_failover.Waiting) // a stage is unreachable: wait out the back-off
        {
            var ready = _running.Where(s => !s.InFlight && !s.Finished && s.PendingTokens > 0).ToList();
            if (ready.Count == 0)
            {
                return;
            }
            // Spread the running sequences over the micro-batches so that every stage has one to work on.
            var perBatch = Math.Max(1, (int)Math.Ceiling(_running.Count / (double)MicroBatchesInFlight));
            var chunks = BatchPlanner.Plan(ready, perBatch, _options.MaxBatchTokens);
            if (chunks.Count == 0)
            {
                return;
            }
            foreach (var chunk in chunks)
            {
                chunk.Sequence.InFlight = true;
            }
            var stepId = ++_nextStepId;
            var entries = chunks.Select(ToEntry).ToList();
            _inFlight++;
            _ = RunMicroBatchAsync(stepId, chunks, entries);
        }
    }

    private async Task RunMicroBatchAsync(long stepId, List<PlannedChunk> chunks, List<StageEntry> entries)
    {
        GatewayTelemetry.BatchSize.Record(chunks.Count, GatewayTelemetry.ModelTag(_pipeline.FirstStage.Model));
        // Current for this async flow only: the stage grains' spans (Orleans activity propagation) nest under it.
        using var step = StepSpan.Start(_pipeline.FirstStage, stepId, chunks);
        try
        {
            var outcome = await _pipeline.RunAsync(stepId, entries);
            if (outcome.RefusedBy is { } refusedBy)
            {
                step?.SetTag("refused_by", refusedBy.ToString());
            }
            _events.Writer.TryWrite(new SchedulerEvent.Completed(stepId, chunks, outcome, null));
        }
        catch (Exception ex)
        {
            step?.SetStatus(ActivityStatusCode.Error, ex.Message);
            _events.Writer.TryWrite(new SchedulerEvent.Completed(stepId, chunks, null, ex));
        }
    }

    private static StageEntry ToEntry(PlannedChunk chunk)
    {
        var sequence = chunk.Sequence;
        var request = sequence.Request;
        var tokens = sequence.Tokens.GetRange(chunk.Start, chunk.Length).ToArray();
        var sampling = chunk.Samples
            ? new SamplingRequest(request.RequestId, request.Sampling.Temperature, request.Sampling.TopK, request.Sampling.TopP,
                request.Sampling.RepetitionPenalty, request.Sampling.Seed, request.Logprobs ? request.TopLogprobs : 0, sequence.Generated)
            : null;
        return new StageEntry(sequence.StageSessionId, chunk.Start, tokens, sequence.ReserveTokens, sampling);
    }

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
                sequence.InFlight = false;
                sequence.Steps.Add(outcome);
                if (outcome.MissingSessions.Contains(sequence.StageSessionId))
                {
                    _logger.LogInformation("Stage {Stage} no longer holds {Session}; replaying its {Tokens} tokens.", outcome.RefusedBy, sequence.StageSessionId, sequence.ComputedLength);
                    sequence.ComputedLength = 0;
                    sequence.CachedAtStart = 0;
                }
                if (outcome.OverBudgetSessions.Contains(sequence.StageSessionId))
                {
                    WaitForStageRoom(sequence, outcome.RefusedBy);
                }
                else if (sequence.CancelRequested)
                {
                    Finish(sequence, FinishReason.Cancelled);
                }
            }
            return;
        }
        var sampled = outcome.Tokens.ToDictionary(t => t.SessionId);
        foreach (var chunk in completed.Chunks)
        {
            var sequence = chunk.Sequence;
            sequence.InFlight = false;
            sequence.Steps.Add(outcome);
            sequence.ComputedLength = chunk.Start + chunk.Length;
            if (chunk.Samples)
            {
                if (!sampled.TryGetValue(sequence.StageSessionId, out var token))
                {
                    Fail(sequence, new RpcException(new Status(StatusCode.Internal, $"The last stage returned no token for {sequence.StageSessionId} at step {completed.StepId}.")));
                    continue;
                }
                AppendToken(sequence, token);
            }
            if (!sequence.Finished && sequence.CancelRequested)
            {
                Finish(sequence, FinishReason.Cancelled);
            }
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
                chunk.Sequence.InFlight = false;
                if (chunk.Sequence.CancelRequested)
                {
                    Finish(chunk.Sequence, FinishReason.Cancelled);
                }
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
            chunk.Sequence.InFlight = false;
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
        sequence.Tokens.Add(token.TokenId);
        sequence.Generated++;
        var delta = sequence.Text.Push(token.TokenId);
        var finish = delta.Stopped ? FinishReason.Stop : _responses.FinishReasonAfter(sequence, token.TokenId);
        var response = _responses.ForToken(sequence, token, delta.Text);
        if (finish == FinishReason.Unspecified)
        {
            sequence.Output.Write(response);
            return;
        }
        Finish(sequence, finish, response);
    }

    private void Finish(RunningSequence sequence, FinishReason reason, GenerateResponse? last = null)
    {
        if (sequence.Finished)
        {
            return;
        }
        last ??= new GenerateResponse();
        if (!sequence.Text.Stopped)
        {
            last.Text += sequence.Text.Finish().Text; // what was held back for a stop sequence that never came
        }
        _responses.Complete(sequence, reason, last);
        sequence.Output.Write(last);
        Retire(sequence); // before the stream ends, so a client that sends its next request at once finds the room it left
        sequence.Output.Complete();
    }

    private void Fail(RunningSequence sequence, Exception error)
    {
        if (sequence.Finished)
        {
            return;
        }
        Retire(sequence);
        sequence.Output.Complete(error);
    }

    private void Retire(RunningSequence sequence)
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
        var keep = sequence.Request.SessionId is not null;
        _ = ReleaseAsync(sequence, keep, reserved);
    }

    /// <summary>
    /// Frees (or parks) the cache on every stage, then gives its reserved positions back to the replica: not before,
    /// or the next admitted sequence could reach a stage ahead of the release and find no room there.
    /// </summary>
    private async Task ReleaseAsync(RunningSequence sequence, bool keep, int reservedPositions)
    {
        try
        {
            await _pipeline.ReleaseAsync([sequence.StageSessionId], keep);
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

    /// <summary>
    /// A stage had no KV-cache room for an admitted sequence (another gateway's sequences, or sessions this gateway
    /// does not count, fill it). Rather than failing a request that fits, it leaves the running set, its cache is
    /// parked on the stages (idle: evictable, so the room it holds is not lost to everyone), its reservation goes back,
    /// and after a back-off it queues again at the front, keeping its tokens; a stage that evicted its cache meanwhile
    /// answers MissingSessions and it replays from position 0. Refused only after <see cref="SchedulerOptions.StageRoomRetries"/>.
    /// </summary>
    private void WaitForStageRoom(RunningSequence sequence, StageKey? refusedBy)
    {
        sequence.StageRoomRefusals++;
        if (sequence.StageRoomRefusals > _options.StageRoomRetries)
        {
            GatewayTelemetry.RequestsRefused.Add(1, GatewayTelemetry.RefusalTags(sequence.Request.Model, "stage_room"));
            Fail(sequence, Overloaded.Exception(
                $"Stage {refusedBy} had no KV-cache room for {sequence.ReserveTokens} positions even after evicting idle sessions, {sequence.StageRoomRefusals} times; retry later.",
                _options.RetryAfter));
            return;
        }
        if (sequence.CancelRequested)
        {
            Finish(sequence, FinishReason.Cancelled);
            return;
        }
        _running.Remove(sequence);
        GatewayTelemetry.StageRoomWaits.Add(1, GatewayTelemetry.ModelTag(sequence.Request.Model));
        GatewayTelemetry.RequestsRunning.Add(-1, GatewayTelemetry.ModelTag(sequence.Request.Model));
        sequence.InFlight = true; // parked: neither stepped nor retired until it is back in the queue
        _ = ParkAsync(sequence, StageRoomBackOff(sequence.StageRoomRefusals));
    }

    private TimeSpan StageRoomBackOff(int refusals)
    {
        var delay = _options.StageRoomRetryDelay * Math.Pow(2, Math.Min(refusals - 1, 16));
        return delay < _options.RetryAfter ? delay : _options.RetryAfter;
    }

    private async Task ParkAsync(RunningSequence sequence, TimeSpan backOff)
    {
        try
        {
            await _pipeline.ReleaseAsync([sequence.StageSessionId], keep: true);
        }
        catch (Exception ex)
        {
            // Harmless: the session stays active on a stage until the next step or the final release reaches it.
            _logger.LogWarning(ex, "Parking {Session} on the stages failed.", sequence.StageSessionId);
        }
        // Only now: a sequence admitted into these positions must not reach a stage ahead of the park.
        _events.Writer.TryWrite(new SchedulerEvent.Released(sequence.ReserveTokens));
        await Task.Delay(backOff, _time);
        _events.Writer.TryWrite(new SchedulerEvent.BackToWaiting(sequence));
    }

    private void ReturnToWaiting(RunningSequence sequence)
    {
        sequence.InFlight = false;
        if (sequence.CancelRequested)
        {
            Finish(sequence, FinishReason.Cancelled); // holds no reservation now, and is in neither list
            return;
        }
        _waiting.AddFirst(sequence); // it was admitted before everyone waiting: first come, first served
        GatewayTelemetry.RequestsWaiting.Add(1, GatewayTelemetry.ModelTag(sequence.Request.Model));
    }

    private static void RecordReadmission(RunningSequence sequence)
    {
        var model = GatewayTelemetry.ModelTag(sequence.Request.Model);
        GatewayTelemetry.RequestsWaiting.Add(-1, model);
        GatewayTelemetry.RequestsRunning.Add(1, model);
    }

    private static void RecordAdmission(RunningSequence sequence, TimeSpan queueTime)
    {
        var model = GatewayTelemetry.ModelTag(sequence.Request.Model);
        GatewayTelemetry.RequestsWaiting.Add(-1, model);
        GatewayTelemetry.RequestsRunning.Add(1, model);
        GatewayTelemetry.QueueTime.Record(queueTime.TotalSeconds, model);
        GatewayTelemetry.PromptTokens.Add(sequence.Tokens.Count, model);
        if (sequence.TraceContext != default)
        {
            // Known only now, so recorded after the fact: from the request's arrival to this admission.
            GatewayTelemetry.StartDetached("queue", sequence.TraceContext, DateTimeOffset.UtcNow - queueTime)?.Stop();
        }
    }

    private static void RecordToken(RunningSequence sequence)
    {
        var now = sequence.Clock.Elapsed;
        var model = GatewayTelemetry.ModelTag(sequence.Request.Model);
        if (sequence.TimeToFirstToken is null)
        {
            sequence.TimeToFirstToken = now;
            GatewayTelemetry.TimeToFirstToken.Record(now.TotalSeconds, model);
        }
        else
        {
            GatewayTelemetry.InterTokenLatency.Record((now - sequence.LastTokenAt).TotalSeconds, model);
        }
        sequence.LastTokenAt = now;
        GatewayTelemetry.GenerationTokens.Add(1, model);
    }

    private static RpcException ToRpcException(Exception error) => error switch
    {
        StageCallException call => ToRpcException(call.InnerException!),
        RpcException rpc => rpc,
        ArgumentException argument => new RpcException(new Status(StatusCode.InvalidArgument, argument.Message)),
        TimeoutException or Orleans.Runtime.SiloUnavailableException or Orleans.Runtime.OrleansMessageRejectionException =>
            new RpcException(new Status(StatusCode.Unavailable, $"A stage did not answer: {error.Message}")),
        _ => new RpcException(new Status(StatusCode.Internal, $"A stage failed: {error.GetType().Name}: {error.Message}")),
    };

    public async ValueTask DisposeAsync()
    {
        _events.Writer.TryComplete();
        await _loop;
    }
}
