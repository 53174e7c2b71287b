using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// Llama's feed-forward: down(silu(gate(x)) · up(x)). Gate and up are fused into one (2I, H) matrix at load
/// time so a step reads the input once and runs one matmul instead of two.
/// </summary>
public sealed class SwiGluFeedForward(Tensor gateUpWeight, Tensor downWeight) : IModule
{
    private readonly long _intermediate = gateUpWeight.shape[0] / 2;

    public Tensor Forward(Tensor x)
    {
        var gateUp = nn.functional.linear(x, gateUpWeight); // (T, 2I)
        var gate = gateUp.narrow(-1, 0, _intermediate);     // (T, I)
        var up = gateUp.narrow(-1, _intermediate, _intermediate);
        return nn.functional.linear(nn.functional.silu(gate).mul(up), downWeight); // (T, H)
    }

    public void Dispose()
    {
        gateUpWeight.Dispose();
        downWeight.Dispose();
    }
}
