namespace Cluster.Hosting;

/// <summary>
/// The models this cluster serves, bound from section <c>Cluster</c> (its <c>Models</c> list) by silos and gateways
/// alike through <see cref="ClusterHostingExtensions.AddClusterModels"/>, and validated at start in both by
/// <see cref="ClusterModelsOptionsValidator"/>.
/// </summary>
public sealed class ClusterModelsOptions
{
    public const string SectionName = "Cluster";

    public List<ModelDeployment> Models { get; set; } = [];

    public ModelDeployment? Find(string name) => Models.Find(m => m.Name == name);
}
