namespace Cluster.LoadTest;

/// <summary>
/// One level of a sweep: a fixed number of concurrent streams (closed loop), or a request rate with Poisson
/// arrivals (open loop: requests are sent on schedule whether or not earlier ones have finished).
/// </summary>
public sealed record LoadLevel(int? Concurrency, double? Rate)
{
    public static LoadLevel AtConcurrency(int streams) => new(streams, null);

    public static LoadLevel AtRate(double requestsPerSecond) => new(null, requestsPerSecond);

    public override string ToString() => Rate is { } rate ? $"{rate:0.###} req/s" : $"concurrency {Concurrency}";
}
