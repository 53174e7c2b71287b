using Cluster.Contracts.Stages;
using Cluster.Silo.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Runtime.Placement;

namespace Cluster.Silo.Placement;

/// <summary>
/// Chooses silo (replica · stages + stage) mod N among the compatible silos sorted by address. Deterministic, so every
/// silo that places a stage picks the same one; a new silo changes the choice only for stages activated after it joined.
/// Only live silos: Orleans' compatible silos are those its membership view holds Active (never Dead or ShuttingDown),
/// so after a silo dies or is stopped, a stage it held re-activates on a survivor (with N-1 silos, the index maps
/// again). Until the dead silo is declared, its stage is still registered there and is not placed anew at all: calls
/// fail and the gateway retries (see the gateway's StepFailover).
/// </summary>
internal sealed class StagePlacementDirector(IOptions<ClusterModelsOptions> models) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target).OrderBy(s => s).ToArray();
        if (silos.Length == 0)
        {
            return Task.FromResult(context.LocalSilo);
        }
        StageKey key;
        try
        {
            key = StageKey.Parse(target.GrainIdentity.Key.ToString());
        }
        catch (FormatException)
        {
            // Not a stage key: the activation will fail with that message; where it fails does not matter.
            return Task.FromResult(context.LocalSilo);
        }
        var stages = models.Value.Find(key.Model)?.Stages ?? 1;
        var index = (int)(((long)key.Replica * stages + key.Stage) % silos.Length);
        return Task.FromResult(silos[index]);
    }
}
