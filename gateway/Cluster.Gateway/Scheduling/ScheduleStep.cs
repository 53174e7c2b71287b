namespace Cluster.Gateway.Scheduling;

/// <summary>
/// What one scheduling step decided, as data the scheduler loop carries out: sequences to move from waiting to
/// running (in order, each reserving its positions), sequences refused because the queue is beyond its bound, and the
/// micro-batches to launch now (in launch order).
/// </summary>
internal sealed record ScheduleDecision(
    IReadOnlyList<RunningSequence> Admitted,
    IReadOnlyList<RunningSequence> RefusedBeyondQueue,
    IReadOnlyList<IReadOnlyList<PlannedChunk>> MicroBatches);

/// <summary>
/// The schedule step of continuous batching (vLLM's "schedule" beside "execute" and "update"): given the waiting
/// queue, the running sequences, the replica's free KV positions and how many micro-batches may still be launched,
/// it decides what runs next. A pure function of its inputs (it changes neither the sequences nor the queues, calls
/// no stage, records nothing), so every rule is tested on its own, and the loop that applies the decision stays the
/// only owner of the state.
/// </summary>
internal sealed class ScheduleStep(SchedulerOptions options)
{
    /// <param name="waiting">The queue, oldest first.</param>
    /// <param name="running">Admitted sequences, in admission order (in flight, parked or ready).</param>
    /// <param name="freeTokens">KV positions of the replica not reserved by a running sequence.</param>
    /// <param name="tokensReserved">What a sequence of that many positions reserves (whole cache blocks).</param>
    /// <param name="microBatches">The most micro-batches in flight at once (one per stage, unless configured).</param>
    /// <param name="launchable">How many more may be launched now: 0 while a failover back-off runs.</param>
    /// <param name="continuations">
    /// Sequences may continue a sampling step still in flight (a one-stage replica, see <see cref="SchedulerOptions.OverlapSteps"/>);
    /// <paramref name="launchable"/> then counts the continuing micro-batch too.
    /// </param>
    public ScheduleDecision Decide(IReadOnlyCollection<RunningSequence> waiting, IReadOnlyList<RunningSequence> running, long freeTokens,
        Func<int, long> tokensReserved, int microBatches, int launchable, bool continuations = false)
    {
        var admitted = Admit(waiting, running.Count, freeTokens, tokensReserved);
        var refused = RefuseBeyondQueue(waiting.Skip(admitted.Count).ToList());
        var batches = Batch(running.Concat(admitted).ToList(), microBatches, launchable, continuations);
        return new ScheduleDecision(admitted, refused, batches);
    }

    /// <summary>
    /// First come, first served while the running set has a place and the KV budget room: a big request at the head
    /// is not overtaken forever by small ones behind it.
    /// </summary>
    private List<RunningSequence> Admit(IReadOnlyCollection<RunningSequence> waiting, int runningCount, long freeTokens, Func<int, long> tokensReserved)
    {
        var admitted = new List<RunningSequence>();
        foreach (var sequence in waiting)
        {
            var needed = tokensReserved(sequence.ReserveTokens);
            if (runningCount + admitted.Count >= options.MaxRunningSequences || needed > freeTokens)
            {
                break;
            }
            admitted.Add(sequence);
            freeTokens -= needed;
        }
        return admitted;
    }

    /// <summary>
    /// Submit bounds waiting + running; when the KV budget, not <see cref="SchedulerOptions.MaxRunningSequences"/>, is
    /// what keeps sequences waiting, that alone would let the queue grow past <see cref="SchedulerOptions.MaxWaitingRequests"/>.
    /// What is left waiting beyond it once admission has taken its fill is refused now, newest first, rather than
    /// waiting for a place it was promised it would not wait for. Sequences back from waiting for a stage's room keep theirs.
    /// </summary>
    private List<RunningSequence> RefuseBeyondQueue(List<RunningSequence> stillWaiting)
    {
        var refused = new List<RunningSequence>();
        var excess = stillWaiting.Count - options.MaxWaitingRequests;
        for (var i = stillWaiting.Count - 1; i >= 0 && excess > 0; i--)
        {
            if (stillWaiting[i].StageRoomRefusals > 0)
            {
                continue;
            }
            refused.Add(stillWaiting[i]);
            excess--;
        }
        return refused;
    }

    /// <summary>
    /// Fills the free micro-batch slots from the ready sequences (running, not in flight, with tokens to compute, not
    /// waiting for another sequence to compute a prefix they share),
    /// spreading the running set over the micro-batches so that every stage has one to work on. With
    /// <paramref name="continuations"/>, a sequence whose one step in flight samples (launched before or in this
    /// decision) also continues in the next micro-batch, unless that token is its last or it is cancelled.
    /// </summary>
    private List<IReadOnlyList<PlannedChunk>> Batch(List<RunningSequence> running, int microBatches, int launchable, bool continuations)
    {
        var batches = new List<IReadOnlyList<PlannedChunk>>();
        var perBatch = Math.Max(1, (int)Math.Ceiling(running.Count / (double)microBatches));
        // Each sequence's steps in flight and whether the newest samples, counting what this decision launches.
        var steps = running.ToDictionary(s => s, s => (InFlight: s.StepsInFlight, Samples: s.LatestStepSamples));
        while (batches.Count < launchable)
        {
            var ready = running.Where(s => steps[s].InFlight == 0 && !s.Parked && !s.Finished && s.PendingTokens > 0 && s.PrefixWait is null).ToList();
            var continuing = continuations
                ? running.Where(s => steps[s] is (1, true) && !s.Parked && !s.Finished && !s.CancelRequested && s.Generated + 2 <= s.Request.MaxNewTokens).ToList()
                : [];
            var chunks = BatchPlanner.Plan(continuing, ready, perBatch, options.MaxBatchTokens);
            if (chunks.Count == 0)
            {
                break;
            }
            foreach (var chunk in chunks)
            {
                steps[chunk.Sequence] = (steps[chunk.Sequence].InFlight + 1, chunk.Samples);
            }
            batches.Add(chunks);
        }
        return batches;
    }
}
