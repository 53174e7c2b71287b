using Cluster.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// Llama's feed-forward: down(silu(gate(x)) · up(x)). Gate and up are fused into one (2I, H) matrix at load
/// time so a step reads the input once and runs one matmul instead of two. In CPU fp32 inference the gate is one C#
/// pass (<see cref="SwiGluKernel"/>): libtorch's silu and mul are two operations, each split over OpenMP threads that
/// sleep between operations under the engine's passive wait policy. Elsewhere (CUDA, training) libtorch computes it.
/// </summary>
public sealed class SwiGluFeedForward(Linear gateUp, Linear down) : IModule
{
    private readonly long _intermediate = gateUp.OutFeatures / 2;

    public Tensor Forward(Tensor x)
    {
        var gateUpOut = gateUp.Forward(x);                                // (T, 2I)
        if (GatesOnHost(gateUpOut))
        {
            var gated = torch.empty(gateUpOut.shape[0], _intermediate, ScalarType.Float32); // (T, I)
            SwiGluKernel.Run(TensorMemory.Float32Data(gateUpOut), TensorMemory.Float32Data(gated), (int)gateUpOut.shape[0], (int)_intermediate);
            GC.KeepAlive(gateUpOut);
            return down.Forward(gated);                                    // (T, H)
        }
        var gate = gateUpOut.narrow(-1, 0, _intermediate);                // (T, I)
        var up = gateUpOut.narrow(-1, _intermediate, _intermediate);      // (T, I)
        return down.Forward(nn.functional.silu(gate).mul(up));            // (T, H)
    }

    private static bool GatesOnHost(Tensor gateUpOut) =>
        gateUpOut.device_type == DeviceType.CPU && gateUpOut.dtype == ScalarType.Float32 && gateUpOut.dim() == 2
        && gateUpOut.is_contiguous() && !gateUpOut.requires_grad;

    public void Dispose()
    {
        gateUp.Dispose();
        down.Dispose();
    }
}
