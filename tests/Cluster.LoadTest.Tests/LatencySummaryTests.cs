namespace Cluster.LoadTest.Tests;

public sealed class LatencySummaryTests
{
    [Fact]
    public void Percentiles_of_one_to_a_hundred_milliseconds()
    {
        // 1, 2, ..., 100 ms, shuffled: the histogram keeps 3 significant digits (0.1 %).
        var seconds = Enumerable.Range(1, 100).Select(ms => ms / 1000.0).OrderBy(x => (x * 7919) % 1).ToList();
        var summary = LatencySummary.From(seconds);

        Assert.Equal(100, summary.Count);
        Assert.True(Math.Abs(summary.MeanMs - 50.5) < 0.1, $"mean {summary.MeanMs} ms, expected 50.5");
        Assert.True(Math.Abs(summary.MedianMs - 50) < 0.1, $"median {summary.MedianMs} ms, expected 50");
        Assert.True(Math.Abs(summary.P90Ms - 90) < 0.1, $"p90 {summary.P90Ms} ms, expected 90");
        Assert.True(Math.Abs(summary.P99Ms - 99) < 0.1, $"p99 {summary.P99Ms} ms, expected 99");
    }

    [Fact]
    public void One_slow_outlier_shows_in_p99_only()
    {
        var seconds = Enumerable.Repeat(0.010, 990).Concat(Enumerable.Repeat(2.0, 10)).ToList();
        var summary = LatencySummary.From(seconds);

        Assert.True(Math.Abs(summary.MedianMs - 10) < 0.02, $"median {summary.MedianMs} ms, expected 10");
        Assert.True(Math.Abs(summary.P90Ms - 10) < 0.02, $"p90 {summary.P90Ms} ms, expected 10");
        Assert.True(Math.Abs(summary.P99Ms - 10) < 0.02, $"p99 {summary.P99Ms} ms, expected 10 (the 990th of 1000)");
        Assert.True(Math.Abs(summary.MeanMs - 29.9) < 0.1, $"mean {summary.MeanMs} ms, expected 29.9");
    }

    [Fact]
    public void No_values_give_zeros() => Assert.Equal(new LatencySummary(0, 0, 0, 0, 0), LatencySummary.From([]));
}
