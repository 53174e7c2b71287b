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
/// Continuous batching for one replica of a model, as the event loop that drives its two steps: the schedule step
/// (<see cref="ScheduleStep"/>: who is admitted, who is refused, which chunks form the next micro-batches) and the
/// output step (<see cref="OutputProcessor"/>: tokens to streams, stop rules, closing messages). The loop owns all
/// the state (queues, reservations, in-flight count, failover), calls the pipeline, keeps up to one micro-batch per
/// stage in flight so all stages compute at once, and records the telemetry. Everything happens on the one loop
/// that reads events, so nothing is locked. Applying what a step brought back is in ReplicaScheduler.Update.cs,
/// stage-room waits in ReplicaScheduler.StageRoom.cs, the prefix cache in ReplicaScheduler.PrefixCache.cs, metrics in
/// ReplicaScheduler.Telemetry.cs.
/// </summary>
internal sealed partial class ReplicaScheduler : IAsyncDisposable
{
    private readonly PipelineDriver _pipeline;
    private readonly ReplicaCapacity _capacity;
    private readonly SchedulerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly StepFailover _failover;
    private readonly ScheduleStep _schedule;
    private readonly OutputProcessor _output;
    private readonly Channel<SchedulerEvent> _events = Channel.CreateUnbounded<SchedulerEvent>(new() { SingleReader = true });
    private readonly LinkedList<RunningSequence> _waiting = new();
    private readonly List<RunningSequence> _running = [];
    private readonly Task _loop;
    private int _inFlight;
    private long _nextStepId;
    private long _arrivals;
    private int _load;

    public ReplicaScheduler(PipelineDriver pipeline, ReplicaCapacity capacity, SchedulerOptions options, TokenResponses responses, ILogger logger,
        TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _failover = new StepFailover(options, _time);
        _schedule = new ScheduleStep(options);
        _output = new OutputProcessor(responses);
        _prefixes = options.PrefixCache ? new PrefixIndex(options.PrefixBlockTokens, options.PrefixIndexMaxBlocks) : null;
        _pipeline = pipeline;
        _capacity = capacity;
        _options = options;
        _logger = logger;
        _loop = Task.Run(RunLoopAsync);
    }

    /// <summary>
    /// Raised on the loop after each event it has handled (and the schedule it ran): observability of the loop's state
    /// changes, so that a test waits for a state instead of polling it.
    /// </summary>
    internal event Action? Turned;

    /// <summary>Requests waiting or running: what replica choice balances.</summary>
    public int Load => Volatile.Read(ref _load);

    private int MicroBatchesInFlight => _options.MicroBatchesInFlight > 0 ? _options.MicroBatchesInFlight : _pipeline.StageCount;

    /// <summary>A one-stage replica overlaps its steps (<see cref="SchedulerOptions.OverlapSteps"/>): one more micro-batch, the continuing one, may be in flight.</summary>
    private bool Continuations => _options.OverlapSteps && _pipeline.StageCount == 1;

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
                StopPastDeadline();
                Schedule();
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
            Turned?.Invoke();
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
                arrived.Sequence.Arrival = ++_arrivals;
                LookUpPrefix(arrived.Sequence);
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
            case SchedulerEvent.ReservationAsked asked:
                _reservations.AddLast(asked.Reservation);
                break;
            case SchedulerEvent.ReservationEnded ended:
                EndReservation(ended.Reservation);
                break;
            case SchedulerEvent.RetryDue:
                _failover.RetryDue();
                break;
        }
    }

    /// <summary>
    /// Stops every sequence whose client deadline has passed, at the loop's next event (each step's return is one):
    /// the deadline's cancellation reaches the handler through ASP.NET Core's timers and the client's stream reset, and
    /// right after a failover both were seen to arrive only after a short request had been computed to its end (issue
    /// #11 item 7); the scheduler does not wait for them. An in-flight sequence ends when its micro-batch returns.
    /// </summary>
    private void StopPastDeadline()
    {
        var now = _time.GetUtcNow().UtcDateTime;
        foreach (var sequence in _running.Concat(_waiting).Where(s => s.Deadline <= now && !s.Finished).ToList())
        {
            if (sequence.InFlight)
            {
                sequence.CancelRequested = true;
            }
            else
            {
                Finish(sequence, FinishReason.Cancelled);
            }
        }
    }

    /// <summary>Carries out what the schedule step decides: admissions, refusals beyond the queue, micro-batches launched.</summary>
    private void Schedule()
    {
        EndPrefixWaits();
        var slots = MicroBatchesInFlight + (Continuations ? 1 : 0);
        var launchable = _failover.Waiting ? 0 : slots - _inFlight; // a stage is unreachable: wait out the back-off
        var free = GrantReservations() ? 0 : _capacity.Tokens - _capacity.Reserved; // a reservation waiting for room goes first
        var decision = _schedule.Decide(_waiting, _running, free, _capacity.TokensReserved, MicroBatchesInFlight, launchable, Continuations);
        foreach (var sequence in decision.Admitted)
        {
            Admit(sequence);
        }
        foreach (var sequence in decision.RefusedBeyondQueue)
        {
            GatewayTelemetry.RequestsRefused.Add(1, GatewayTelemetry.RefusalTags(sequence.Request.Model, "queue_full"));
            Fail(sequence, QueueFull());
        }
        foreach (var chunks in decision.MicroBatches)
        {
            Launch(chunks);
        }
    }

    private void Admit(RunningSequence sequence)
    {
        if (!_capacity.TryReserve(sequence.ReserveTokens))
        {
            throw new InvalidOperationException($"The schedule step admitted {sequence.Request.RequestId} without room for its {sequence.ReserveTokens} positions.");
        }
        _waiting.Remove(sequence);
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

    private RpcException QueueFull() =>
        Overloaded.Exception($"The queue is full ({_options.MaxWaitingRequests} waiting requests); retry later.", _options.RetryAfter);

    private void Launch(IReadOnlyList<PlannedChunk> chunks)
    {
        foreach (var chunk in chunks)
        {
            chunk.Sequence.StepsInFlight++;
            chunk.Sequence.LatestStepSamples = chunk.Samples;
        }
        var stepId = ++_nextStepId;
        var entries = chunks.Select(ToEntry).ToList();
        _inFlight++;
        _ = RunMicroBatchAsync(stepId, chunks, entries);
    }

    private async Task RunMicroBatchAsync(long stepId, IReadOnlyList<PlannedChunk> chunks, List<StageEntry> entries)
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
        if (chunk.Continues)
        {
            // Its token is the one the step in flight samples: that is this request's draw number Generated, this one's the next.
            return new StageEntry(sequence.StageSessionId, chunk.Start, [], sequence.ReserveTokens,
                new SamplingRequest(request.RequestId, request.Sampling, sequence.Generated + 1), ContinuesSample: true);
        }
        var tokens = sequence.Tokens.GetRange(chunk.Start, chunk.Length).ToArray();
        var sampling = chunk.Samples
            ? new SamplingRequest(request.RequestId, request.Sampling, sequence.Generated)
            : null;
        // A scored prompt: every chunk that holds prompt positions, and the token after it when the chunk does not sample.
        var promptEnd = sequence.HistoryLength + request.PromptTokens.Count;
        var score = request.PromptLogprobs is { } top && chunk.Start < promptEnd ? top : -1;
        var next = score >= 0 && !chunk.Samples && chunk.Start + chunk.Length < sequence.Tokens.Count ? sequence.Tokens[chunk.Start + chunk.Length] : -1;
        return new StageEntry(sequence.StageSessionId, chunk.Start, tokens, sequence.ReserveTokens, sampling, PrefixOf(chunk), ScoreTop: score, NextTokenId: next);
    }

    public async ValueTask DisposeAsync()
    {
        _events.Writer.TryComplete();
        await _loop;
        FailReservations();
    }
}
