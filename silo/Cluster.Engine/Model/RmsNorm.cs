using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>RMSNorm (Llama): x / sqrt(mean(x²) + eps) · weight, with the statistics in fp32 as Hugging Face does.</summary>
public sealed class RmsNorm(Tensor weight, double epsilon) : IModule
{
    public Tensor Forward(Tensor x)
    {
        // x: (T, H)
        var x32 = x.to_type(ScalarType.Float32);
        var inverseRms = x32.pow(2).mean([-1L], keepdim: true).add(epsilon).rsqrt(); // (T, 1)
        return x32.mul(inverseRms).to_type(x.dtype).mul(weight); // (T, H)
    }

    public void Dispose() => weight.Dispose();
}
