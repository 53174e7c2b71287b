using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// Llama's feed-forward: down(silu(gate(x)) · up(x)). Gate and up are fused into one (2I, H) matrix at load
/// time so a step reads the input once and runs one matmul instead of two.
/// </summary>
public sealed class SwiGluFeedForward(Linear gateUp, Linear down) : IModule
{
    private readonly long _intermediate = gateUp.OutFeatures / 2;

    public Tensor Forward(Tensor x)
    {
        var gateUpOut = gateUp.Forward(x);                                // (T, 2I)
        var gate = gateUpOut.narrow(-1, 0, _intermediate);                // (T, I)
        var up = gateUpOut.narrow(-1, _intermediate, _intermediate);      // (T, I)
        return down.Forward(nn.functional.silu(gate).mul(up));            // (T, H)
    }

    public void Dispose()
    {
        gateUp.Dispose();
        down.Dispose();
    }
}
