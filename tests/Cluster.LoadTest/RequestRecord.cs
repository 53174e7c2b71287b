namespace Cluster.LoadTest;

/// <summary>One measured request: when its tokens arrived, relative to when it was sent, or the status it failed with.</summary>
/// <param name="ComputePerStep">Seconds of stage compute per pipeline step, all stages summed; null for the engine.</param>
/// <param name="HopOverhead">
/// Mean seconds per step that the hand-over between steps cost (the cluster reports it per request): on one stage, its
/// device's idle time between consecutive steps; on several, the round trip per stage beyond its compute. Null for the engine.
/// </param>
/// <param name="TraceId">The W3C trace id the request was sent with (null for the engine): look it up in Jaeger.</param>
/// <param name="CachedPromptTokens">Prompt tokens the cluster did not compute (a session's cache or a prefix-cache hit), from the response's usage.</param>
public sealed record RequestRecord(double TimeToFirstToken, double EndToEnd, int PromptTokens, int OutputTokens, IReadOnlyList<double> InterTokenLatencies, string? Error, double? HopOverhead = null, double? ComputePerStep = null, string? TraceId = null,
    int CachedPromptTokens = 0)
{
    /// <summary>Time per output token after the first (vLLM's TPOT); null for a single-token answer.</summary>
    public double? TimePerOutputToken => OutputTokens > 1 ? (EndToEnd - TimeToFirstToken) / (OutputTokens - 1) : null;

    public static RequestRecord Failed(double endToEnd, string error, string? traceId = null) => new(0, endToEnd, 0, 0, [], error, TraceId: traceId);
}
