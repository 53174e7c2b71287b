namespace Cluster.LoadTest;

/// <summary>What one level of a sweep measured, in the terms of vLLM's serving benchmark.</summary>
/// <param name="Concurrency">Concurrent streams of a closed-loop level; null for a rate level.</param>
/// <param name="Rate">Requests per second of a Poisson (open-loop) level; null for a concurrency level.</param>
/// <param name="GoodRequests">Requests that met every latency objective; null when no objective was given.</param>
/// <param name="Slowest">The slowest requests by end-to-end latency (failed ones included), slowest first.</param>
/// <param name="CachedPromptTokens">Prompt tokens served from a cache instead of computed (the usage's cached prompt tokens).</param>
public sealed record LevelResult(
    string Target,
    int? Concurrency,
    double? Rate,
    double DurationSeconds,
    int Completed,
    IReadOnlyDictionary<string, int> ErrorsByStatus,
    long PromptTokens,
    long OutputTokens,
    LatencySummary TimeToFirstToken,
    LatencySummary TimePerOutputToken,
    LatencySummary InterTokenLatency,
    LatencySummary EndToEnd,
    LatencySummary HopOverhead,
    LatencySummary ComputePerStep,
    int? GoodRequests,
    IReadOnlyList<SlowRequest> Slowest,
    long CachedPromptTokens = 0)
{
    /// <summary>Cached prompt tokens over prompt tokens (vLLM's prefix-cache hit rate, in tokens); 0 without prompts.</summary>
    public double PrefixCacheHitRate => PromptTokens > 0 ? (double)CachedPromptTokens / PromptTokens : 0;

    public double RequestsPerSecond => Completed / DurationSeconds;

    public double OutputTokensPerSecond => OutputTokens / DurationSeconds;

    public double TotalTokensPerSecond => (PromptTokens + OutputTokens) / DurationSeconds;

    /// <summary>Requests per second that met every latency objective (vLLM's goodput); null without objectives.</summary>
    public double? GoodputRequestsPerSecond => GoodRequests / DurationSeconds;

    public int Errors => ErrorsByStatus.Values.Sum();

    public string Level => Rate is { } rate ? $"{rate:0.###}/s" : $"c={Concurrency}";

    public static LevelResult From(string target, LoadLevel level, double durationSeconds, IReadOnlyList<RequestRecord> records,
        ServiceLevelObjectives? objectives = null, int slowest = 5)
    {
        var ok = records.Where(r => r.Error is null).ToList();
        var errors = records.Where(r => r.Error is not null).GroupBy(r => r.Error!).ToDictionary(g => g.Key, g => g.Count());
        return new LevelResult(target, level.Concurrency, level.Rate, durationSeconds, ok.Count, errors,
            ok.Sum(r => (long)r.PromptTokens), ok.Sum(r => (long)r.OutputTokens),
            LatencySummary.From(ok.Select(r => r.TimeToFirstToken)),
            LatencySummary.From(ok.Where(r => r.TimePerOutputToken is not null).Select(r => r.TimePerOutputToken!.Value)),
            LatencySummary.From(ok.SelectMany(r => r.InterTokenLatencies)),
            LatencySummary.From(ok.Select(r => r.EndToEnd)),
            LatencySummary.From(ok.Where(r => r.HopOverhead is not null).Select(r => r.HopOverhead!.Value)),
            LatencySummary.From(ok.Where(r => r.ComputePerStep is not null).Select(r => r.ComputePerStep!.Value)),
            objectives is { Any: true } ? ok.Count(objectives.MetBy) : null,
            SlowRequest.From(records, slowest),
            ok.Sum(r => (long)r.CachedPromptTokens));
    }
}
