using System.Diagnostics;
using System.Threading.Channels;
using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Cluster.Gateway.Admission;
using Cluster.Gateway.Telemetry;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// Continuous batching for one replica of a model: at every step it forms a micro-batch from the running sequences
/// that are not in flight (new ones join at the next step), keeps up to one micro-batch per stage in flight so all
/// stages compute at once, and applies what comes back (append the token, stream it, check the stop rules).
/// Schedule, execute and update are separate (update in ReplicaScheduler.Update.cs, stage-room waits in
/// ReplicaScheduler.StageRoom.cs): all state lives in one loop that reads events, so nothing is locked.
/// </summary>
internal sealed partial class ReplicaScheduler : IAsyncDisposable
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
                if (arrived.Sequence.Finished)
                {
                    break; // its cancel came first and retired it: admitted now, it would hold a reservation forever
                }
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
            ? new SamplingRequest(request.RequestId, request.Sampling, sequence.Generated)
            : null;
        return new StageEntry(sequence.StageSessionId, chunk.Start, tokens, sequence.ReserveTokens, sampling);
    }

    public async ValueTask DisposeAsync()
    {
        _events.Writer.TryComplete();
        await _loop;
    }
}
