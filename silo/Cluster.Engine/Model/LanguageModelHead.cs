using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>The last stage's end: final norm, then the projection to vocabulary logits (in fp32).</summary>
public sealed class LanguageModelHead(IModule finalNorm, Tensor weight, bool ownsWeight) : IDisposable
{
    /// <param name="hidden">(N, H) rows whose next-token logits are wanted.</param>
    /// <returns>(N, V), float32.</returns>
    public Tensor Forward(Tensor hidden) =>
        nn.functional.linear(finalNorm.Forward(hidden), weight).to_type(ScalarType.Float32);

    public void Dispose()
    {
        finalNorm.Dispose();
        if (ownsWeight)
        {
            weight.Dispose();
        }
    }
}
