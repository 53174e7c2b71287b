using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>GPT-2's feed-forward: c_proj(gelu_tanh(c_fc(x))). Weights are stored (out, in) like nn.Linear.</summary>
public sealed class GeluFeedForward(Tensor fcWeight, Tensor fcBias, Tensor projectionWeight, Tensor projectionBias) : IModule
{
    public Tensor Forward(Tensor x)
    {
        var hidden = nn.functional.linear(x, fcWeight, fcBias).gelu(GELU.Approximate.tanh); // (T, I)
        return nn.functional.linear(hidden, projectionWeight, projectionBias);                // (T, H)
    }

    public void Dispose()
    {
        fcWeight.Dispose();
        fcBias.Dispose();
        projectionWeight.Dispose();
        projectionBias.Dispose();
    }
}
