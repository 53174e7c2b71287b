using System.Net;
using Cluster.Contracts.Stages;
using Cluster.Silo.Placement;

namespace Cluster.Silo.Tests.Hosting;

/// <summary>Where placement (and rebalancing) puts a stage: (replica · stages + stage) mod N over the silos in address order.</summary>
public sealed class StageHomeTests
{
    private static readonly SiloAddress[] Silos = [.. Enumerable.Range(0, 3).Select(i => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111 + i), 1))];

    [Fact]
    public void TheStagesOfOneReplicaLandOnDifferentSilosWhateverTheOrderTheSilosAreListedIn()
    {
        var homes = Enumerable.Range(0, 3).Select(s => StageHome.Choose(Silos.Reverse(), new StageKey("m", 0, s), 3)).ToList();
        Assert.Equal(Silos, homes);
    }

    [Fact]
    public void ReplicasContinueWhereThePreviousReplicaEndedAndWrapAround()
    {
        // Replica 1 of a 2-stage model starts at index 2: silo 2, then wraps to silo 0.
        Assert.Equal(Silos[2], StageHome.Choose(Silos, new StageKey("m", 1, 0), 2));
        Assert.Equal(Silos[0], StageHome.Choose(Silos, new StageKey("m", 1, 1), 2));
    }

    [Fact]
    public void WithNoSiloItRefusesInsteadOfDividingByZero() =>
        Assert.Throws<ArgumentException>(() => StageHome.Choose([], new StageKey("m", 0, 0), 2));
}
