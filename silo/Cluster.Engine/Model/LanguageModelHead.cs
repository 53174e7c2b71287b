using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>The last stage's end: final norm, then the projection to vocabulary logits (in fp32).</summary>
/// <param name="projection">(V, H), bias-free; a tied head shares the embedding's matrix (or a bf16 copy of it).</param>
/// <param name="ownsProjection">False when the projection's weight is the shard's embedding matrix itself.</param>
public sealed class LanguageModelHead(IModule finalNorm, Linear projection, bool ownsProjection) : IDisposable
{
    /// <param name="hidden">(N, H) rows whose next-token logits are wanted.</param>
    /// <returns>(N, V), float32.</returns>
    public Tensor Forward(Tensor hidden) =>
        projection.Forward(finalNorm.Forward(hidden)).to_type(ScalarType.Float32); // (N, V)

    /// <summary>The final norm alone: the model's last hidden state as transformers reports it (embeddings read it).</summary>
    /// <param name="hidden">(N, H).</param>
    public Tensor Normalize(Tensor hidden) => finalNorm.Forward(hidden); // (N, H)

    public void Dispose()
    {
        finalNorm.Dispose();
        if (ownsProjection)
        {
            projection.Dispose();
        }
    }
}
