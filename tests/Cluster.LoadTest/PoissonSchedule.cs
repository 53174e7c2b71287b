namespace Cluster.LoadTest;

/// <summary>
/// Arrival times of a Poisson process at <c>rate</c> requests per second: exponential inter-arrival times
/// (<c>-ln(1 - U) / rate</c>) from a seeded generator, so a run's schedule is reproducible from its seed.
/// </summary>
public sealed class PoissonSchedule(double rate, ulong seed)
{
    private readonly Random random = new(unchecked((int)seed ^ (int)(seed >> 32)));

    public double Rate { get; } = rate > 0 && double.IsFinite(rate) ? rate : throw new ArgumentOutOfRangeException(nameof(rate), rate, "The rate must be positive and finite.");

    public double NextInterval() => -Math.Log(1 - random.NextDouble()) / Rate;

    /// <summary>Seconds from the start at which each request is sent: an endless, increasing sequence.</summary>
    public IEnumerable<double> ArrivalTimes()
    {
        var time = 0.0;
        while (true)
        {
            time += NextInterval();
            yield return time;
        }
    }
}
