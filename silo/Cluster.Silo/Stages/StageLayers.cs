using Cluster.Contracts.Stages;
using Cluster.Hosting;
using Cluster.Engine.Model;

namespace Cluster.Silo.Stages;

/// <summary>Which layers a stage of a deployment owns: the deployment's LayerSplit when given, else an even split.</summary>
public static class StageLayers
{
    public static LayerRange For(ModelDeployment deployment, int stage, int layerCount)
    {
        if (stage >= deployment.Stages)
        {
            throw new ArgumentException($"Model '{deployment.Name}' has {deployment.Stages} stages; there is no stage {stage}.");
        }
        if (deployment.LayerSplit.Length == 0)
        {
            return LayerRange.SplitEvenly(layerCount, deployment.Stages)[stage];
        }
        if (deployment.LayerSplit.Length != deployment.Stages || deployment.LayerSplit.Any(n => n < 1) || deployment.LayerSplit.Sum() != layerCount)
        {
            throw new ArgumentException(
                $"Model '{deployment.Name}': LayerSplit [{string.Join(", ", deployment.LayerSplit)}] must give each of its {deployment.Stages} stages " +
                $"at least one layer and sum to the checkpoint's {layerCount} layers (sums to {deployment.LayerSplit.Sum()}).");
        }
        var start = deployment.LayerSplit.Take(stage).Sum();
        return new LayerRange(start, start + deployment.LayerSplit[stage]);
    }
}
