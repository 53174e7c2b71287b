using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>RMSNorm (Llama): x / sqrt(mean(x²) + eps) · weight, with the statistics in fp32 as Hugging Face does.</summary>
public sealed class RmsNorm(Tensor weight, double epsilon) : IModule
{
    public Tensor Forward(Tensor x)
    {
        if (x.device_type == DeviceType.CPU && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32 && x.dim() == 2 && x.stride(1) == 1
            && !x.requires_grad && !weight.requires_grad) // the training path keeps autograd's operations
        {
            // One C# pass instead of about eight libtorch operations, each a fixed dispatch (25 norms a step).
            var output = torch.empty(x.shape, ScalarType.Float32, x.device); // (T, H)
            Cluster.Kernels.RmsNormKernel.Run(TensorMemory.Float32Data(x), x.stride(0), TensorMemory.Float32Data(weight), TensorMemory.Float32Data(output),
                (int)x.shape[0], (int)x.shape[1], (float)epsilon);
            return output;
        }
        // x: (T, H)
        var x32 = x.to_type(ScalarType.Float32);
        var inverseRms = x32.pow(2).mean([-1L], keepdim: true).add(epsilon).rsqrt(); // (T, 1)
        return x32.mul(inverseRms).to_type(x.dtype).mul(weight); // (T, H)
    }

    public void Dispose() => weight.Dispose();
}
