namespace Cluster.Silo.Placement;

/// <summary>
/// Which stage moves where when the cluster has grown: while some silo hosts no stage and another hosts several, the
/// crowded silos' stages beyond their first (in key order, over all crowded silos) go to the empty silos (in address
/// order), one each. Every stage computes this from the same snapshot, so two stages never pick the same empty silo,
/// and nothing moves when every silo already has a stage: a silo lost and replaced shuffles nothing that is in place.
/// </summary>
public static class StageSpread
{
    /// <param name="stagesBySilo">The stage keys each active silo hosts (every active silo listed, empty ones too).</param>
    /// <returns>The silo <paramref name="stage"/> should move to, or null to stay.</returns>
    public static SiloAddress? TargetFor(string stage, IReadOnlyDictionary<SiloAddress, List<string>> stagesBySilo)
    {
        var empty = stagesBySilo.Where(p => p.Value.Count == 0).Select(p => p.Key).OrderBy(s => s).ToList();
        if (empty.Count == 0)
        {
            return null;
        }
        var movers = stagesBySilo.Values
            .Where(keys => keys.Count >= 2)
            .SelectMany(keys => keys.Order(StringComparer.Ordinal).Skip(1))
            .Order(StringComparer.Ordinal)
            .ToList();
        var index = movers.IndexOf(stage);
        return index >= 0 && index < empty.Count ? empty[index] : null;
    }
}
