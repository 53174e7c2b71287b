using Cluster.Contracts.Stages;
using Cluster.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Runtime.Placement;

namespace Cluster.Silo.Placement;

/// <summary>
/// Places a stage on its <see cref="StageHome"/> among the compatible silos. Deterministic, so every silo that places a
/// stage picks the same one. When silos join later, stages on crowded silos move to the empty ones by themselves
/// (StageGrain.Rebalance.cs, <see cref="StageSpread"/>). Only live silos: Orleans' compatible silos are those its membership view holds Active
/// (never Dead or ShuttingDown), so a stage whose silo died or stopped re-activates on a survivor. Until the dead silo
/// is declared, its stage is still registered there and is not placed anew: calls fail and the gateway retries (the
/// gateway's StepFailover).
/// </summary>
internal sealed class StagePlacementDirector(IOptions<ClusterModelsOptions> models) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var silos = context.GetCompatibleSilos(target);
        if (silos.Length == 0)
        {
            return Task.FromResult(context.LocalSilo);
        }
        // A moving stage names its new home (and may be left out of the compatible silos while it moves).
        if (IPlacementDirector.GetPlacementHint(target.RequestContextData, silos) is { } hint)
        {
            return Task.FromResult(hint);
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
        return Task.FromResult(StageHome.Choose(silos, key, models.Value.Find(key.Model)?.Stages ?? 1));
    }
}
