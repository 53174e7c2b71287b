namespace Cluster.Gateway.Scheduling;

/// <summary>What wakes a replica's scheduler loop.</summary>
internal abstract record SchedulerEvent
{
    public sealed record Arrived(RunningSequence Sequence) : SchedulerEvent;

    /// <summary>A sequence a stage refused for lack of room was parked on the stages and has waited its back-off: it queues again.</summary>
    public sealed record BackToWaiting(RunningSequence Sequence) : SchedulerEvent;

    public sealed record Cancelled(RunningSequence Sequence) : SchedulerEvent;

    public sealed record Completed(long StepId, IReadOnlyList<PlannedChunk> Chunks, PipelineOutcome? Outcome, Exception? Error) : SchedulerEvent;

    /// <summary>The stages freed (or parked) a retired sequence's cache: its reserved positions are the replica's again.</summary>
    public sealed record Released(int ReservedPositions) : SchedulerEvent;

    /// <summary>Inspect or Embed asks for KV room (<see cref="ReplicaScheduler.ReserveAsync"/>).</summary>
    public sealed record ReservationAsked(ReplicaScheduler.KvReservation Reservation) : SchedulerEvent;

    /// <summary>Its work is done or its caller gave up: the room (granted or not) is freed.</summary>
    public sealed record ReservationEnded(ReplicaScheduler.KvReservation Reservation) : SchedulerEvent;

    /// <summary>The back-off after a transiently failed step is over: steps may be launched again.</summary>
    public sealed record RetryDue : SchedulerEvent;
}
