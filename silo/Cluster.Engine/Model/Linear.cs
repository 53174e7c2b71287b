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

    // Read once here: every decode step calls each Linear, and each read of a tensor's shape, dtype or address is a
    // native call (a shape also allocates an array). The weight is never reallocated while this module holds it.
    private readonly long _inFeatures;
    private readonly long _outFeatures;
    private readonly ScalarType _weightDType;
    private readonly nint _weightData; // the first element of a contiguous CPU weight, else 0
    private readonly nint _biasData;   // the same for an fp32 CPU bias, else 0

    public unsafe Linear(Tensor weight, Tensor? bias)
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
        _outFeatures = weight.shape[0];
        _inFeatures = weight.shape[1];
        _weightDType = weight.dtype;
        _weightData = IsContiguousOnCpu(weight) ? (nint)TensorMemory.Address(weight) : 0;
        _biasData = bias is not null && IsContiguousOnCpu(bias) && bias.dtype == ScalarType.Float32 ? (nint)TensorMemory.Address(bias) : 0;
        if (_weightData != 0)
        {
            // Every decode step streams a CPU weight whole: its memory goes on 2 MiB pages where Linux allows it.
            HugePages.Collapse((void*)_weightData, weight.numel() * weight.element_size());
        }
    }

    private static bool IsContiguousOnCpu(Tensor tensor) => tensor.device_type == DeviceType.CPU && tensor.is_contiguous();

    /// <summary>(out, in), as loaded: fp32, or bf16 when the engine keeps weights in bf16.</summary>
    public Tensor Weight => _weight;

    public Tensor? Bias => _bias;

    public long InFeatures => _inFeatures;

    public long OutFeatures => _outFeatures;

    /// <param name="x">(…, in): (T, in) in inference, (B, T, in) in training.</param>
    /// <returns>(…, out) in x's dtype.</returns>
    public Tensor Forward(Tensor x)
    {
        // The kernel reads the addresses kept at construction: a disposed weight (or a tied one its owner disposed)
        // fails here, a managed check, instead of being read after it is freed.
        ObjectDisposedException.ThrowIf(_weight.IsInvalid || (_bias?.IsInvalid ?? false), this);
        if (UsesKernel(x))
        {
            return ForwardWithKernel(x.is_contiguous() ? x : x.contiguous()); // (T, out); contiguous() would wrap x in a new tensor
        }
        if (_weightDType == x.dtype)
        {
            return nn.functional.linear(x, _weight, _bias); // (…, out)
        }
        // bf16 weights, fp32 activations, a batch past the kernel's crossover: oneDNN's AVX512-BF16 product,
        // summed in fp32 by oneDNN and returned as fp32; the bias is added in fp32.
        var y = nn.functional.linear(x.to_type(_weightDType), _weight).to_type(x.dtype); // (…, out)
        return _bias is null ? y : y.add_(_bias);
    }

    private bool UsesKernel(Tensor x) =>
        _weightData != 0
        && (_bias is null || _biasData != 0)
        && x.device_type == DeviceType.CPU
        && x.dim() == 2
        && x.dtype == ScalarType.Float32
        && !x.requires_grad && !_weight.requires_grad && (_bias is null || !_bias.requires_grad)
        && x.shape[0] <= LinearCrossover.KernelMaxRows(_weightDType);

    private unsafe Tensor ForwardWithKernel(Tensor x)
    {
        var rows = (int)x.shape[0];
        var y = torch.empty(rows, OutFeatures, ScalarType.Float32); // (T, out)
        var xs = (float*)TensorMemory.Address(x);
        var ys = (float*)TensorMemory.Address(y);
        var bias = (float*)_biasData; // null without a bias
        if (_weightDType == ScalarType.BFloat16)
        {
            LinearKernel.BFloat16(xs, rows, (int)InFeatures, (ushort*)_weightData, (int)OutFeatures, bias, ys);
        }
        else
        {
            LinearKernel.Float32(xs, rows, (int)InFeatures, (float*)_weightData, (int)OutFeatures, bias, ys);
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
