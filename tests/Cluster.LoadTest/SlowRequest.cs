namespace Cluster.LoadTest;

/// <summary>One of a level's slowest requests, by end-to-end latency, with the trace id to look it up in Jaeger.</summary>
public sealed record SlowRequest(string? TraceId, double EndToEndMs, double TimeToFirstTokenMs, double? TimePerOutputTokenMs, int OutputTokens, string? Error)
{
    public static IReadOnlyList<SlowRequest> From(IEnumerable<RequestRecord> records, int count) => records
        .OrderByDescending(r => r.EndToEnd)
        .Take(count)
        .Select(r => new SlowRequest(r.TraceId, r.EndToEnd * 1e3, r.TimeToFirstToken * 1e3, r.TimePerOutputToken * 1e3, r.OutputTokens, r.Error))
        .ToList();
}
