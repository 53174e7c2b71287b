using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>GPT-2's feed-forward: c_proj(gelu_tanh(c_fc(x))). Weights are stored (out, in) like nn.Linear.</summary>
public sealed class GeluFeedForward(Linear fc, Linear projection) : IModule
{
    public Tensor Forward(Tensor x)
    {
        var hidden = fc.Forward(x).gelu(GELU.Approximate.tanh); // (T, I)
        return projection.Forward(hidden);                       // (T, H)
    }

    public void Dispose()
    {
        fc.Dispose();
        projection.Dispose();
    }
}
