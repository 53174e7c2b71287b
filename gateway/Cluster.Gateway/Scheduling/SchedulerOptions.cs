namespace Cluster.Gateway.Scheduling;

/// <summary>How a replica's scheduler forms micro-batches. Section <c>Gateway:Scheduler</c>.</summary>
public sealed class SchedulerOptions
{
    /// <summary>Requests waiting for admission before new ones get RESOURCE_EXHAUSTED.</summary>
    public int MaxWaitingRequests { get; set; } = 256;

    /// <summary>Sequences running at once on one replica (their KV caches must also fit the stages' budget).</summary>
    public int MaxRunningSequences { get; set; } = 64;

    /// <summary>Tokens per micro-batch: decodes take one each, prompt chunks fill the rest.</summary>
    public int MaxBatchTokens { get; set; } = 256;

    /// <summary>Micro-batches in flight through the pipeline; 0 = one per stage, so every stage has work.</summary>
    public int MicroBatchesInFlight { get; set; }

    /// <summary>
    /// How many times a running sequence that a stage refuses for lack of KV-cache room (the stages are shared with
    /// other gateways, or hold sessions this gateway does not count) goes back to waiting before it is refused with
    /// RESOURCE_EXHAUSTED. 0: refused at the first such refusal.
    /// </summary>
    public int StageRoomRetries { get; set; } = 8;

    /// <summary>
    /// The wait before such a sequence asks again, doubling at each further refusal and never longer than
    /// <see cref="RetryAfter"/>: with the defaults a sequence keeps trying for about 5 s before it is refused.
    /// </summary>
    public TimeSpan StageRoomRetryDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>The wait suggested to a client refused for lack of room (queue full, no KV-cache room).</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    public void Validate()
    {
        if (MaxWaitingRequests < 0 || MaxRunningSequences < 1 || MaxBatchTokens < 1 || MicroBatchesInFlight < 0 || RetryAfter < TimeSpan.Zero)
        {
            throw new ArgumentException(
                $"Gateway:Scheduler needs MaxWaitingRequests >= 0 (got {MaxWaitingRequests}), MaxRunningSequences >= 1 (got {MaxRunningSequences}), " +
                $"MaxBatchTokens >= 1 (got {MaxBatchTokens}), MicroBatchesInFlight >= 0 (got {MicroBatchesInFlight}), RetryAfter >= 0 (got {RetryAfter}).");
        }
        if (StageRoomRetries < 0 || StageRoomRetryDelay < TimeSpan.Zero)
        {
            throw new ArgumentException(
                $"Gateway:Scheduler needs StageRoomRetries >= 0 (got {StageRoomRetries}) and StageRoomRetryDelay >= 0 (got {StageRoomRetryDelay}).");
        }
    }
}
