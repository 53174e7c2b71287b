using System.Diagnostics;

namespace Cluster.Gateway.Scheduling;

/// <summary>Time since a request arrived at the gateway, before it was even read and tokenized (the clock of TTFT, queue time, latency).</summary>
internal readonly struct RequestClock(long arrivedAt)
{
    public static RequestClock StartNow() => new(Stopwatch.GetTimestamp());

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(arrivedAt);
}
