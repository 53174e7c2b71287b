using System.Net;
using Cluster.Silo.Placement;

namespace Cluster.Silo.Tests.Hosting;

/// <summary>Which stage moves where as the cluster grows: crowded silos give their extra stages to empty ones, one each, and nothing else moves.</summary>
public sealed class StageSpreadTests
{
    private static readonly SiloAddress[] Silos = [.. Enumerable.Range(0, 4).Select(i => SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 11111 + i), 1))];

    private static Dictionary<SiloAddress, List<string>> Hosting(params string[][] stagesPerSilo) =>
        stagesPerSilo.Select((keys, i) => (Silos[i], keys.ToList())).ToDictionary(p => p.Item1, p => p.Item2);

    [Fact]
    public void TwoStagesOnOneSiloAndANewEmptySiloMoveTheSecondStageThere()
    {
        var silos = Hosting(["m/0/0", "m/0/1"], []);
        Assert.Null(StageSpread.TargetFor("m/0/0", silos));
        Assert.Equal(Silos[1], StageSpread.TargetFor("m/0/1", silos));
    }

    [Fact]
    public void ExtraStagesOfSeveralCrowdedSilosGoToDifferentEmptySilos()
    {
        var silos = Hosting(["m/0/0", "m/0/2"], ["m/0/1", "m/0/3"], [], []);
        var targets = new[] { "m/0/0", "m/0/1", "m/0/2", "m/0/3" }.Select(k => StageSpread.TargetFor(k, silos)).ToList();
        Assert.Equal([null, null, Silos[2], Silos[3]], targets);
    }

    [Fact]
    public void MoreExtraStagesThanEmptySilosMoveOnlyAsManyAsThereAreEmptySilos()
    {
        var silos = Hosting(["m/0/0", "m/0/1", "m/0/2"], []);
        Assert.Equal(Silos[1], StageSpread.TargetFor("m/0/1", silos));
        Assert.Null(StageSpread.TargetFor("m/0/2", silos));
    }

    [Fact]
    public void WhenEverySiloHostsAStageNothingMovesEvenIfOneHostsSeveral()
    {
        // After a silo died its stage re-activated next to another one; the survivors are all busy: moving would only
        // reload weights without spreading anything.
        var silos = Hosting(["m/0/0"], ["m/0/1", "m/0/2"]);
        Assert.All(new[] { "m/0/0", "m/0/1", "m/0/2" }, k => Assert.Null(StageSpread.TargetFor(k, silos)));
    }
}
