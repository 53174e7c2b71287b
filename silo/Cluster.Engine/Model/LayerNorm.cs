using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>LayerNorm (GPT-2): (x - mean) / sqrt(var + eps) · weight + bias, biased variance.</summary>
public sealed class LayerNorm(Tensor weight, Tensor bias, double epsilon) : IModule
{
    public Tensor Forward(Tensor x) =>
        nn.functional.layer_norm(x, [weight.shape[0]], weight, bias, epsilon); // (T, H)

    public void Dispose()
    {
        weight.Dispose();
        bias.Dispose();
    }
}
