namespace Cluster.LoadTest.Tests;

/// <summary>Hand-made request records.</summary>
internal static class Records
{
    /// <summary>A successful request: first token after <paramref name="ttft"/> s, then one token every <paramref name="tpot"/> s.</summary>
    public static RequestRecord Ok(double ttft, double tpot, int tokens, string? traceId = null, int promptTokens = 10) =>
        new(ttft, ttft + tpot * (tokens - 1), promptTokens, tokens, Enumerable.Repeat(tpot, tokens - 1).ToList(), null, TraceId: traceId);
}
