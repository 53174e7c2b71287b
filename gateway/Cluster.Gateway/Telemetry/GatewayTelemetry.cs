using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Cluster.Gateway.Telemetry;

/// <summary>
/// The gateway's trace source and meter. Static: instruments are cheap, process-wide singletons, and a source or
/// meter nobody listens to costs one "any listener?" check (StartActivity returns null, Record returns at once).
/// Metric names follow vLLM's (vllm:time_to_first_token_seconds → cluster_time_to_first_token_seconds).
/// </summary>
internal static class GatewayTelemetry
{
    public const string SourceName = "Cluster.Gateway";
    public const string MeterName = "Cluster.Gateway";

    public static readonly ActivitySource Source = new(SourceName);
    private static readonly Meter Meter = new(MeterName);

    /// <summary>Latency buckets in seconds, from a fast decode step to a long generation.</summary>
    private static readonly double[] SecondsBuckets = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];

    private static readonly int[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

    public static readonly Histogram<double> TimeToFirstToken = Seconds("cluster_time_to_first_token_seconds", "From the request's arrival to its first generated token.");
    public static readonly Histogram<double> InterTokenLatency = Seconds("cluster_inter_token_latency_seconds", "Between consecutive generated tokens of a request.");
    public static readonly Histogram<double> RequestLatency = Seconds("cluster_e2e_request_latency_seconds", "From the request's arrival to its end (finished, cancelled or failed).");
    public static readonly Histogram<double> QueueTime = Seconds("cluster_request_queue_time_seconds", "From the request's arrival to its admission by the replica's scheduler.");

    public static readonly Histogram<int> BatchSize = Meter.CreateHistogram("cluster_batch_size", unit: null,
        description: "Sequences in a scheduled micro-batch step.", tags: null, advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBuckets });

    public static readonly UpDownCounter<int> RequestsRunning = Meter.CreateUpDownCounter<int>("cluster_num_requests_running", description: "Requests admitted by a scheduler and not yet finished.");
    public static readonly UpDownCounter<int> RequestsWaiting = Meter.CreateUpDownCounter<int>("cluster_num_requests_waiting", description: "Requests queued for admission.");
    public static readonly Counter<long> PromptTokens = Meter.CreateCounter<long>("cluster_prompt_tokens_total", description: "Prompt tokens of admitted requests (history of a session turn included).");
    public static readonly Counter<long> GenerationTokens = Meter.CreateCounter<long>("cluster_generation_tokens_total", description: "Tokens generated.");

    public static readonly Counter<long> PrefixCacheQueries = Meter.CreateCounter<long>("cluster_prefix_cache_queries_total",
        description: "Prompt tokens looked up in the prefix cache (vLLM's prefix_cache_queries): the hit rate's denominator.");
    public static readonly Counter<long> PrefixCacheHits = Meter.CreateCounter<long>("cluster_prefix_cache_hits_total",
        description: "Prompt tokens copied from a cached prefix instead of computed (vLLM's prefix_cache_hits).");

    public static readonly Counter<long> RequestsRefused = Meter.CreateCounter<long>("cluster_requests_refused_total",
        description: "Requests refused with RESOURCE_EXHAUSTED by a scheduler, by reason: queue_full, stage_room (retries spent), too_large (never fits).");
    public static readonly Counter<long> StageRoomWaits = Meter.CreateCounter<long>("cluster_stage_room_waits_total",
        description: "Times a running request went back to waiting because a stage had no KV-cache room for it.");

    /// <summary>The tags of <see cref="RequestsRefused"/>.</summary>
    public static TagList RefusalTags(string model, string reason) => new() { ModelTag(model), { "reason", reason } };

    private static Histogram<double> Seconds(string name, string description) =>
        Meter.CreateHistogram(name, "s", description, tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = SecondsBuckets });

    public static KeyValuePair<string, object?> ModelTag(string model) => new("model", model);

    /// <summary>
    /// Records an already finished span (e.g. the queue wait, known only at admission) without touching the calling
    /// context's <see cref="Activity.Current"/>: the scheduler loop must not inherit one request's span.
    /// </summary>
    public static Activity? StartDetached(string name, ActivityContext parent, DateTimeOffset startTime = default, IEnumerable<ActivityLink>? links = null)
    {
        var previous = Activity.Current;
        var activity = Source.StartActivity(name, ActivityKind.Internal, parent, tags: null, links, startTime);
        Activity.Current = previous;
        return activity;
    }
}
