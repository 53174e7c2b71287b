using Cluster.Engine.Configuration;
using Cluster.Engine.Weights;

namespace Cluster.Engine.Model;

/// <summary>
/// What an architecture contributes: the checkpoint keys and shapes it expects, and how to build its
/// embedding, decoder blocks and head from them. Field names follow the checkpoint keys.
/// </summary>
public abstract class ModelFamily(ModelConfig config)
{
    public ModelConfig Config { get; } = config;

    public static ModelFamily For(ModelConfig config, CheckpointWeights checkpoint) => config.Architecture switch
    {
        ModelArchitecture.Llama => new LlamaFamily(config),
        ModelArchitecture.Gpt2 => new Gpt2Family(config, Gpt2Family.DetectPrefix(checkpoint)),
        _ => throw new CheckpointException($"Architecture {config.Architecture} has no implementation."),
    };

    /// <summary>Every tensor the whole model expects, whichever shard loads it.</summary>
    public abstract IReadOnlyList<WeightSpec> ExpectedWeights();

    /// <summary>Keys that checkpoints carry but the model does not need (non-persistent buffers, duplicate tied heads).</summary>
    public abstract bool IsIgnorable(string key);

    /// <summary>Whether positions enter by rotating queries and keys (true) or by an added embedding (false).</summary>
    public abstract bool UsesRotaryEmbedding { get; }

    public abstract IEmbedding CreateEmbedding(WeightLoader weights);

    public abstract DecoderBlock CreateBlock(int layer, WeightLoader weights, RotaryEmbedding? rotary);

    /// <param name="tiedEmbedding">The shard's own token embedding matrix when it has one and the head is tied.</param>
    public abstract LanguageModelHead CreateHead(WeightLoader weights, TorchSharp.torch.Tensor? tiedEmbedding);
}
