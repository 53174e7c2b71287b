using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Cluster.Silo.Telemetry;

/// <summary>
/// The silo's trace source and meter. Static and process-wide: with nobody listening, StartActivity returns null and
/// Record returns at once. KV-cache usage is observed: each stage grain registers a <see cref="StageGauge"/>.
/// </summary>
public static class SiloTelemetry
{
    public const string SourceName = "Cluster.Silo";
    public const string MeterName = "Cluster.Silo";

    public static readonly ActivitySource Source = new(SourceName);
    private static readonly Meter Meter = new(MeterName);
    private static readonly ConcurrentDictionary<StageGauge, byte> Gauges = new();

    public static readonly Histogram<double> ForwardSeconds = Meter.CreateHistogram("cluster_stage_forward_seconds", "s",
        "Compute time of one stage's forward pass of a micro-batch (on the device thread).", tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24] });

    public static readonly ObservableGauge<double> KvCacheUsage = Meter.CreateObservableGauge("cluster_kv_cache_usage_perc",
        () => Gauges.Keys.Select(g => new Measurement<double>(g.KvUsage, g.Tags)), unit: null,
        description: "Fraction (0..1) of a stage's KV-cache byte budget its sessions hold.");

    public static readonly ObservableCounter<double> KernelWaitSeconds = Meter.CreateObservableCounter("cluster_kernel_wait_seconds_total",
        () => Cluster.Kernels.KernelTeam.WaitSeconds, unit: null,
        "Seconds the device thread waited, after its own share of a CPU kernel call, for the kernel team's other threads: " +
        "time lost to other work on the cores the kernels use (KernelTeam.WaitSeconds).");

    public static readonly ObservableCounter<long> KernelCalls = Meter.CreateObservableCounter("cluster_kernel_calls_total",
        () => Cluster.Kernels.KernelTeam.SplitCalls, unit: null, "CPU kernel calls split over more than one thread (KernelTeam.SplitCalls).");

    public static StageGauge Register(string model, int replica, int stage)
    {
        var gauge = new StageGauge(model, replica, stage);
        Gauges.TryAdd(gauge, 0);
        return gauge;
    }

    public static void Unregister(StageGauge gauge) => Gauges.TryRemove(gauge, out _);
}

/// <summary>One stage grain's labels and its last KV-cache usage, written by the grain, read by the gauge callback.</summary>
public sealed class StageGauge(string model, int replica, int stage)
{
    private double _kvUsage;

    /// <summary>model, replica, stage: built once, so recording allocates nothing.</summary>
    public KeyValuePair<string, object?>[] Tags { get; } = [new("model", model), new("replica", replica.ToString()), new("stage", stage.ToString())];

    public double KvUsage => Volatile.Read(ref _kvUsage);

    /// <summary>Whether anyone observes the KV-cache gauge: when not, callers skip summing their sessions' bytes.</summary>
    public static bool KvUsageObserved => SiloTelemetry.KvCacheUsage.Enabled;

    /// <summary>Records the stage's KV-cache use as the share of its budget.</summary>
    public void RecordKvUsage(long usedBytes, long budgetBytes)
    {
        if (budgetBytes > 0)
        {
            Volatile.Write(ref _kvUsage, usedBytes / (double)budgetBytes);
        }
    }
}
