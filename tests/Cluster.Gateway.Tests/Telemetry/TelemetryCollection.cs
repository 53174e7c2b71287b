namespace Cluster.Gateway.Tests.Telemetry;

/// <summary>
/// Listeners on the process-wide Cluster.* sources and meters see every test's clusters: these tests run alone, so
/// what they collect is their own request's.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "Telemetry";
}
