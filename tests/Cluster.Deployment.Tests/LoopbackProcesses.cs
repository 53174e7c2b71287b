namespace Cluster.Deployment.Tests;

/// <summary>
/// Tests that start real clusters on loopback (Redis, silo processes, the gateway) run one at a time and apart from
/// the other tests: each cluster wants the machine's cores, and starving one makes failure detection and the
/// measured stalls say more about the neighbours than about the cluster.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LoopbackProcesses
{
    public const string Name = "Loopback processes";
}
