using Cluster.Contracts.Stages;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// A stage's Forward call threw: carries which stage, so a failed step can name it (in the failover give-up message
/// and the logs). The stage's own exception is the inner one; classification and status mapping look at that.
/// </summary>
internal sealed class StageCallException(StageKey stage, Exception inner)
    : Exception($"Stage {stage}: {inner.Message}", inner)
{
    public StageKey Stage { get; } = stage;
}
