namespace Cluster.Gateway.Scheduling;

/// <summary>What wakes a replica's scheduler loop.</summary>
internal abstract record SchedulerEvent
{
    public sealed record Arrived(RunningSequence Sequence) : SchedulerEvent;

    public sealed record Cancelled(RunningSequence Sequence) : SchedulerEvent;

    public sealed record Completed(long StepId, IReadOnlyList<PlannedChunk> Chunks, PipelineOutcome? Outcome, Exception? Error) : SchedulerEvent;
}
