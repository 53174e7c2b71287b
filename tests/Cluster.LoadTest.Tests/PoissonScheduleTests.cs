namespace Cluster.LoadTest.Tests;

public sealed class PoissonScheduleTests
{
    [Fact]
    public void Inter_arrival_times_are_exponential_with_mean_one_over_the_rate()
    {
        const double rate = 50;
        const int samples = 100_000;
        var schedule = new PoissonSchedule(rate, seed: 7);
        var intervals = Enumerable.Range(0, samples).Select(_ => schedule.NextInterval()).ToArray();

        // The standard error of the mean of an exponential is mean/sqrt(n) = 0.3 % here; 2 % is over 6 of them.
        var mean = intervals.Average();
        Assert.True(Math.Abs(mean * rate - 1) < 0.02, $"mean inter-arrival {mean:F6} s, expected {1 / rate:F6} s within 2 %");
        // An exponential's standard deviation equals its mean (coefficient of variation 1).
        var deviation = Math.Sqrt(intervals.Sum(x => (x - mean) * (x - mean)) / (samples - 1));
        Assert.True(Math.Abs(deviation / mean - 1) < 0.03, $"coefficient of variation {deviation / mean:F4}, expected 1 within 3 %");
        var bad = intervals.Where(x => !(x > 0) || !double.IsFinite(x)).Take(5).ToList();
        Assert.True(bad.Count == 0, $"intervals not positive and finite: {string.Join(", ", bad)}");
    }

    [Fact]
    public void The_schedule_is_reproducible_from_its_seed()
    {
        var first = new PoissonSchedule(10, seed: 3).ArrivalTimes().Take(200).ToArray();
        var again = new PoissonSchedule(10, seed: 3).ArrivalTimes().Take(200).ToArray();
        var other = new PoissonSchedule(10, seed: 4).ArrivalTimes().Take(200).ToArray();

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        var decreasing = first.Zip(first.Skip(1)).Where(p => p.Second <= p.First).ToList();
        Assert.True(decreasing.Count == 0, $"arrival times must increase; not at {string.Join(", ", decreasing)}");
        // 200 arrivals at 10/s take about 20 s (standard deviation about 1.4 s).
        Assert.InRange(first[^1], 14, 26);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(double.PositiveInfinity)]
    public void A_rate_that_is_not_positive_and_finite_is_rejected(double rate) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new PoissonSchedule(rate, seed: 1));
}
