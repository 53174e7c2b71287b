namespace Cluster.Engine.Weights;

/// <summary>Which part of the model a weight belongs to, so a shard loads only its own.</summary>
public enum WeightPart
{
    Embedding,
    Layer,
    Head,
}

/// <summary>A tensor the model expects in the checkpoint: its key, shape and owner.</summary>
/// <param name="Layer">The decoder layer, for <see cref="WeightPart.Layer"/> weights; -1 otherwise.</param>
public sealed record WeightSpec(string Name, long[] Shape, WeightPart Part, int Layer = -1);
