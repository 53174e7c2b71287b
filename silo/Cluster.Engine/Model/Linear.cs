using Cluster.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// y = x·Wᵀ + b, as nn.Linear, with W stored (out, in) in fp32 or bf16 and b in the activations' dtype.
/// Decode-sized inference on the CPU runs <see cref="LinearKernel"/> (it streams W near the memory bandwidth
/// where libtorch's fp32 kernels do not); everything else goes to libtorch: batches past the measured
/// crossover (prefill), CUDA, and anything that needs autograd (training), so gradients flow as before.
/// </summary>
public sealed class Linear : IDisposable
{
    private readonly Tensor _weight; // (out, in) fp32 or bf16
    private readonly Tensor? _bias;  // (out) in the activations' dtype

    public Linear(Tensor weight, Tensor? bias)
    {
        if (weight.dim() != 2)
        {
            throw new ArgumentException($"A linear weight is (out, in); this one has {weight.dim()} dimensions.", nameof(weight));
        }
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.shape[0]))
        {
            throw new ArgumentException($"A linear bias is (out) = ({weight.shape[0]}); this one is [{string.Join(", ", bias.shape)}].", nameof(bias));
        }
        _weight = weight;
        _bias = bias;
        OnHugePages(weight);
    }

    /// <summary>
    /// A CPU weight is streamed whole by every decode step: its memory goes on 2 MiB pages (<see cref="HugePages"/>)
    /// where Linux allows it.
    /// </summary>
    private static unsafe void OnHugePages(Tensor weight)
    {
        if (weight.device_type == DeviceType.CPU && weight.is_contiguous())
        {
            HugePages.Collapse(TensorMemory.Address(weight), weight.numel() * weight.element_size());
        }
    }

    /// <summary>(out, in), as loaded: fp32, or bf16 when the engine keeps weights in bf16.</summary>
    public Tensor Weight => _weight;

    public Tensor? Bias => _bias;

    public long InFeatures => _weight.shape[1];

    public long OutFeatures => _weight.shape[0];

    /// <param name="x">(…, in): (T, in) in inference, (B, T, in) in training.</param>
    /// <returns>(…, out) in x's dtype.</returns>
    public Tensor Forward(Tensor x)
    {
        if (UsesKernel(x))
        {
            return ForwardWithKernel(x.is_contiguous() ? x : x.contiguous()); // (T, out); contiguous() would wrap x in a new tensor
        }
        if (_weight.dtype == x.dtype)
        {
            return nn.functional.linear(x, _weight, _bias); // (…, out)
        }
        // bf16 weights, fp32 activations, a batch past the kernel's crossover: oneDNN's AVX512-BF16 product,
        // summed in fp32 by oneDNN and returned as fp32; the bias is added in fp32.
        var y = nn.functional.linear(x.to_type(_weight.dtype), _weight).to_type(x.dtype); // (…, out)
        return _bias is null ? y : y.add_(_bias);
    }

    private bool UsesKernel(Tensor x) =>
        x.device_type == DeviceType.CPU
        && x.dim() == 2
        && x.dtype == ScalarType.Float32
        && (_bias is null || _bias.dtype == ScalarType.Float32)
        && !x.requires_grad && !_weight.requires_grad && (_bias is null || !_bias.requires_grad)
        && x.shape[0] <= LinearCrossover.KernelMaxRows(_weight.dtype);

    private unsafe Tensor ForwardWithKernel(Tensor x)
    {
        var rows = (int)x.shape[0];
        var y = torch.empty(rows, OutFeatures, ScalarType.Float32); // (T, out)
        var xs = (float*)TensorMemory.Address(x);
        var ys = (float*)TensorMemory.Address(y);
        var bias = _bias is null ? null : (float*)TensorMemory.Address(_bias);
        if (_weight.dtype == ScalarType.BFloat16)
        {
            LinearKernel.BFloat16(xs, rows, (int)InFeatures, (ushort*)TensorMemory.Address(_weight), (int)OutFeatures, bias, ys);
        }
        else
        {
            LinearKernel.Float32(xs, rows, (int)InFeatures, (float*)TensorMemory.Address(_weight), (int)OutFeatures, bias, ys);
        }
        GC.KeepAlive(x);
        return y;
    }

    public void Dispose()
    {
        _weight.Dispose();
        _bias?.Dispose();
    }
}
