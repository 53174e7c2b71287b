using System.Diagnostics;
using Cluster.Contracts.Stages;

namespace Cluster.Gateway.Scheduling;

/// <summary>What came back from a micro-batch's trip through every stage.</summary>
internal sealed record PipelineOutcome(
    IReadOnlyList<SampledTokenResult> Tokens,
    IReadOnlyList<string> MissingSessions,
    IReadOnlyList<string> OverBudgetSessions,
    StageKey? RefusedBy,
    double[] StageComputeSeconds,
    double[] StageRoundTripSeconds,
    string[] StageSilos,
    double[] StageIdleSeconds,
    IReadOnlyList<PromptScores>? Scores = null);

/// <summary>
/// Carries one micro-batch through a replica's stages, hop by hop: the gateway drives every hop, so a stage grain
/// is free for the next micro-batch as soon as it has answered, and with P micro-batches in flight all P stages
/// compute at once. Hidden states travel as raw bytes between hops. <paramref name="siloLost"/> (the next departure
/// of a silo, see <see cref="SiloLossWatch"/>) makes a hop still waiting when a silo leaves fail as unreachable.
/// </summary>
internal sealed class PipelineDriver(IReadOnlyList<IStageGrain> stages, IReadOnlyList<StageKey> keys, Func<Task>? siloLost = null)
{
    public int StageCount => stages.Count;

    /// <summary>The replica's first stage: its model and replica name the replica in telemetry.</summary>
    public StageKey FirstStage => keys[0];

    public async Task<PipelineOutcome> RunAsync(long stepId, IReadOnlyList<StageEntry> entries)
    {
        HiddenStates? hidden = null;
        var computeSeconds = new double[stages.Count];
        var roundTripSeconds = new double[stages.Count];
        var silos = new string[stages.Count];
        var idleSeconds = new double[stages.Count];
        for (var s = 0; s < stages.Count; s++)
        {
            var started = Stopwatch.GetTimestamp();
            StageResult result;
            try
            {
                result = await ForwardAsync(s, new StageBatch(stepId, entries, hidden));
            }
            catch (Exception error)
            {
                throw new StageCallException(keys[s], error); // which stage failed: the scheduler's retry and give-up name it
            }
            roundTripSeconds[s] = Stopwatch.GetElapsedTime(started).TotalSeconds;
            computeSeconds[s] = result.ComputeSeconds;
            silos[s] = result.Silo;
            idleSeconds[s] = result.IdleSeconds;
            if (!result.Computed)
            {
                return new PipelineOutcome([], result.MissingSessions, result.OverBudgetSessions, keys[s], computeSeconds, roundTripSeconds, silos, idleSeconds);
            }
            if (s == stages.Count - 1)
            {
                return new PipelineOutcome(result.Tokens, [], [], null, computeSeconds, roundTripSeconds, silos, idleSeconds, result.Scores);
            }
            hidden = result.Hidden ?? throw new InvalidOperationException($"Stage {keys[s]} returned no hidden states for step {stepId}.");
        }
        throw new InvalidOperationException("A pipeline needs at least one stage.");
    }

    private async Task<StageResult> ForwardAsync(int stage, StageBatch batch)
    {
        var lost = siloLost?.Invoke(); // before the call: a departure while it is outstanding must not slip between the two
        var call = stages[stage].Forward(batch);
        if (lost is null || call.IsCompleted)
        {
            return await call;
        }
        if (await Task.WhenAny(call, lost) == call)
        {
            return await call;
        }
        _ = call.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted); // its late failure is nobody's now
        throw new SiloUnavailableException(
            $"A silo left the cluster while step {batch.StepId} waited on stage {keys[stage]}; the call is abandoned and the step retried.");
    }

    /// <summary>Frees, parks or retains sessions' caches on every stage.</summary>
    public Task ReleaseAsync(IReadOnlyList<string> sessionIds, CacheRelease release) =>
        Task.WhenAll(stages.Select(stage => stage.Release(sessionIds, release)));
}
