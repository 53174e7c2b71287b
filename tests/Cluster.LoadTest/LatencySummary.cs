using HdrHistogram;

namespace Cluster.LoadTest;

/// <summary>Mean, median, p90 and p99 of latencies, in milliseconds, through an HDR histogram (3 significant digits).</summary>
public sealed record LatencySummary(double MeanMs, double MedianMs, double P90Ms, double P99Ms, int Count)
{
    public static LatencySummary From(IEnumerable<double> seconds)
    {
        var histogram = new LongHistogram(highestTrackableValue: 3_600_000_000L, numberOfSignificantValueDigits: 3); // microseconds, up to an hour
        var count = 0;
        foreach (var value in seconds)
        {
            histogram.RecordValue(Math.Max(1, (long)(value * 1e6)));
            count++;
        }
        if (count == 0)
        {
            return new LatencySummary(0, 0, 0, 0, 0);
        }
        return new LatencySummary(histogram.GetMean() / 1e3, histogram.GetValueAtPercentile(50) / 1e3,
            histogram.GetValueAtPercentile(90) / 1e3, histogram.GetValueAtPercentile(99) / 1e3, count);
    }
}
