using Cluster.Contracts.Stages;

namespace Cluster.Silo.Placement;

/// <summary>
/// Where a stage belongs: silo (replica · stages + stage) mod N of the given silos in address order. The stages of one
/// replica land on different silos whenever there are enough, and replicas fill the silos after them.
/// </summary>
public static class StageHome
{
    public static SiloAddress Choose(IEnumerable<SiloAddress> silos, StageKey key, int stagesPerReplica)
    {
        var ordered = silos.OrderBy(s => s).ToArray();
        if (ordered.Length == 0)
        {
            throw new ArgumentException("No silo to place a stage on.", nameof(silos));
        }
        var index = (int)(((long)key.Replica * stagesPerReplica + key.Stage) % ordered.Length);
        return ordered[index];
    }
}
