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
    /// On a one-stage replica, launch each decode step while the one before it is still computing, its input token
    /// left for the stage to take from its own last sample: the stage goes from one step to the next without waiting a
    /// round trip through the gateway (vLLM's async scheduling, SGLang's overlap scheduler). A sequence that a stop
    /// token ends costs the stage one position computed for nothing. Multi-stage replicas overlap by micro-batches instead.
    /// </summary>
    public bool OverlapSteps { get; set; } = true;

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

    /// <summary>
    /// How long a replica keeps retrying steps that fail because a stage is unreachable (its silo died or is
    /// stopping) before its streams fail with UNAVAILABLE. It must cover the silo's death being declared (a few
    /// seconds with the silos' Cluster:Membership defaults), the stage re-activating on a surviving silo (loading its
    /// layers) and the replay of the sequences' histories; 60 s leaves room for a large model's weights to load.
    /// </summary>
    public TimeSpan FailoverTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The first wait before retrying a transiently failed step; it doubles at each further failure.</summary>
    public TimeSpan FailoverRetryDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between retries: how late, at most, a recovered stage gets its next step.</summary>
    public TimeSpan FailoverMaxRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How often the gateway reads the cluster's active silos, to abandon stage calls outstanding when one leaves
    /// (see <see cref="SiloLossWatch"/>); zero turns it off. Together with the silos' failure detection it bounds how
    /// long a step waits on a dead silo.
    /// </summary>
    public TimeSpan MembershipPollPeriod { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Reuse computed prefixes: a new sequence copies the KV of its longest prefix some stage session holds (a running
    /// request, a parked session, a finished request retained for this) instead of computing it. See docs/PREFIX_CACHE.md.
    /// </summary>
    public bool PrefixCache { get; set; } = true;

    /// <summary>Tokens per prefix-cache block: prefixes are found and reused in whole blocks (vLLM's default, 16).</summary>
    public int PrefixBlockTokens { get; set; } = 16;

    /// <summary>Blocks the gateway's index of each replica's cached prefixes remembers before it forgets the longest-unused sources.</summary>
    public int PrefixIndexMaxBlocks { get; set; } = 65_536;

    /// <summary>
    /// Cache-aware routing: a one-shot request goes to the replica holding the longest prefix of it, or (when none
    /// does) to the one its first block hashes to, unless that replica has more than this many requests (waiting +
    /// running) beyond the least loaded one; then the least loaded takes it. 0: always the least loaded.
    /// </summary>
    public int PrefixAffinityMaxExtraLoad { get; set; } = 8;

    public void Validate()
    {
        if (PrefixBlockTokens < 1 || PrefixIndexMaxBlocks < 1 || PrefixAffinityMaxExtraLoad < 0)
        {
            throw new ArgumentException(
                $"Gateway:Scheduler needs PrefixBlockTokens >= 1 (got {PrefixBlockTokens}), PrefixIndexMaxBlocks >= 1 (got {PrefixIndexMaxBlocks}) " +
                $"and PrefixAffinityMaxExtraLoad >= 0 (got {PrefixAffinityMaxExtraLoad}).");
        }
        if (FailoverTimeout < TimeSpan.Zero || FailoverRetryDelay <= TimeSpan.Zero || FailoverMaxRetryDelay < FailoverRetryDelay || MembershipPollPeriod < TimeSpan.Zero)
        {
            throw new ArgumentException(
                $"Gateway:Scheduler needs FailoverTimeout >= 0 (got {FailoverTimeout}), FailoverRetryDelay > 0 (got {FailoverRetryDelay}), " +
                $"FailoverMaxRetryDelay >= FailoverRetryDelay (got {FailoverMaxRetryDelay}) and MembershipPollPeriod >= 0 (got {MembershipPollPeriod}).");
        }
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
