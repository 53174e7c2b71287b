namespace Cluster.LoadTest;

/// <summary>
/// Latency objectives for goodput (as in vLLM's serving benchmark): a request counts as good when it succeeded and
/// met every objective given. A request with one output token has no TPOT and meets that objective.
/// </summary>
public sealed record ServiceLevelObjectives(double? TimeToFirstTokenMs = null, double? TimePerOutputTokenMs = null, double? EndToEndMs = null)
{
    public static ServiceLevelObjectives None { get; } = new();

    public bool Any => TimeToFirstTokenMs is not null || TimePerOutputTokenMs is not null || EndToEndMs is not null;

    public bool MetBy(RequestRecord record) =>
        record.Error is null
        && (TimeToFirstTokenMs is not { } ttft || record.TimeToFirstToken * 1e3 <= ttft)
        && (TimePerOutputTokenMs is not { } tpot || record.TimePerOutputToken is not { } seconds || seconds * 1e3 <= tpot)
        && (EndToEndMs is not { } e2e || record.EndToEnd * 1e3 <= e2e);
}
