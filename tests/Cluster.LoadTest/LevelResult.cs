namespace Cluster.LoadTest;

/// <summary>What one concurrency level measured, in the terms of vLLM's serving benchmark.</summary>
public sealed record LevelResult(
    string Target,
    int Concurrency,
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
    LatencySummary ComputePerStep)
{
    public double RequestsPerSecond => Completed / DurationSeconds;

    public double OutputTokensPerSecond => OutputTokens / DurationSeconds;

    public double TotalTokensPerSecond => (PromptTokens + OutputTokens) / DurationSeconds;

    public static LevelResult From(string target, int concurrency, double durationSeconds, IReadOnlyList<RequestRecord> records)
    {
        var ok = records.Where(r => r.Error is null).ToList();
        var errors = records.Where(r => r.Error is not null).GroupBy(r => r.Error!).ToDictionary(g => g.Key, g => g.Count());
        return new LevelResult(target, concurrency, durationSeconds, ok.Count, errors,
            ok.Sum(r => (long)r.PromptTokens), ok.Sum(r => (long)r.OutputTokens),
            LatencySummary.From(ok.Select(r => r.TimeToFirstToken)),
            LatencySummary.From(ok.Where(r => r.TimePerOutputToken is not null).Select(r => r.TimePerOutputToken!.Value)),
            LatencySummary.From(ok.SelectMany(r => r.InterTokenLatencies)),
            LatencySummary.From(ok.Select(r => r.EndToEnd)),
            LatencySummary.From(ok.Where(r => r.HopOverhead is not null).Select(r => r.HopOverhead!.Value)),
            LatencySummary.From(ok.Where(r => r.ComputePerStep is not null).Select(r => r.ComputePerStep!.Value)));
    }
}
