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
    double[] StageRoundTripSeconds);

/// <summary>
/// Carries one micro-batch through a replica's stages, hop by hop: the gateway drives every hop, so a stage grain
/// is free for the next micro-batch as soon as it has answered, and with P micro-batches in flight all P stages
/// compute at once. Hidden states travel as raw bytes between hops.
/// </summary>
internal sealed class PipelineDriver(IReadOnlyList<IStageGrain> stages, IReadOnlyList<StageKey> keys)
{
    public int StageCount => stages.Count;

    /// <summary>The replica's first stage: its model and replica name the replica in telemetry.</summary>
    public StageKey FirstStage => keys[0];

    public async Task<PipelineOutcome> RunAsync(long stepId, IReadOnlyList<StageEntry> entries)
    {
        HiddenStates? hidden = null;
        var computeSeconds = new double[stages.Count];
        var roundTripSeconds = new double[stages.Count];
        for (var s = 0; s < stages.Count; s++)
        {
            var started = Stopwatch.GetTimestamp();
            StageResult result;
            try
            {
                result = await stages[s].Forward(new StageBatch(stepId, entries, hidden));
            }
            catch (Exception error)
            {
                throw new StageCallException(keys[s], error); // which stage failed: the scheduler's retry and give-up name it
            }
            roundTripSeconds[s] = Stopwatch.GetElapsedTime(started).TotalSeconds;
            computeSeconds[s] = result.ComputeSeconds;
            if (!result.Computed)
            {
                return new PipelineOutcome([], result.MissingSessions, result.OverBudgetSessions, keys[s], computeSeconds, roundTripSeconds);
            }
            if (s == stages.Count - 1)
            {
                return new PipelineOutcome(result.Tokens, [], [], null, computeSeconds, roundTripSeconds);
            }
            hidden = result.Hidden ?? throw new InvalidOperationException($"Stage {keys[s]} returned no hidden states for step {stepId}.");
        }
        throw new InvalidOperationException("A pipeline needs at least one stage.");
    }

    /// <summary>Frees (or parks, with <paramref name="keep"/>) sessions' caches on every stage.</summary>
    public Task ReleaseAsync(IReadOnlyList<string> sessionIds, bool keep) =>
        Task.WhenAll(stages.Select(stage => stage.Release(sessionIds, keep)));
}
