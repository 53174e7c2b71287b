using Cluster.Contracts.Stages;

namespace Cluster.Hosting;

/// <summary>
/// How one model is served: its checkpoint directory (the same path on every silo and gateway, e.g. a shared
/// volume), how many pipeline stages each replica is cut into, how many replicas, and optionally the layer count
/// of each stage (even split when empty). One entry of <c>Cluster:Models</c>, bound by silos and gateways alike
/// (<see cref="ClusterModelsOptions"/>), so both agree on the stage keys. Checked by <see cref="ClusterModelsOptionsValidator"/>.
/// </summary>
public sealed class ModelDeployment
{
    public string Name { get; set; } = "";
    public string Path { get; set; } = "";
    public int Stages { get; set; } = 1;
    public int Replicas { get; set; } = 1;
    public int[] LayerSplit { get; set; } = [];

    /// <summary>
    /// The weight matrices' dtype for this model's stages: <c>auto</c> (as the activations), <c>float32</c>,
    /// <c>bfloat16</c> (half the bytes a decode step reads, activations stay fp32) or <c>int8</c> (llama.cpp's Q8_0
    /// blocks, 8.5 bits a weight, CPU silos); empty keeps the silo's
    /// <c>Cluster:Stages:WeightDType</c>. Per model, so one cluster can serve one checkpoint in bf16 and another in fp32.
    /// </summary>
    public string WeightDType { get; set; } = "";

    public IEnumerable<StageKey> StageKeys(int replica) =>
        Enumerable.Range(0, Stages).Select(stage => new StageKey(Name, replica, stage));
}
