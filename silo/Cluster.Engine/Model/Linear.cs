using Cluster.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// y = x·Wᵀ + b, as nn.Linear, with W stored (out, in) in fp32 or bf16, or as int8 blocks, and b in the activations'
/// dtype. Decode-sized inference on the CPU runs <see cref="LinearKernel"/> (it streams W near the memory bandwidth
/// where libtorch's fp32 kernels do not); fp32 weights past its crossover (prefill) run <see cref="PackedLinearKernel"/>
/// on AVX-512 CPUs (twice oneMKL's AVX2 product on AMD's); everything else goes to libtorch: bf16 weights past the
/// crossover (oneDNN), CUDA, CPUs without AVX-512 past the crossover, and anything that needs autograd (training), so
/// gradients flow as before. int8 blocks (<see cref="Quantized"/>) have no libtorch counterpart: every batch runs
/// <see cref="Int8LinearKernel"/>.
/// </summary>
public sealed class Linear : IDisposable
{
    private readonly Tensor? _weight; // (out, in) fp32 or bf16; null for int8 blocks
    private readonly Int8Matrix? _int8; // (out, in) in blocks of 32, or null
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
        CheckIsMatrix(weight);
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

    private unsafe Linear(Int8Matrix weight, Tensor? bias)
    {
        _int8 = weight;
        _bias = bias;
        _outFeatures = weight.Rows;
        _inFeatures = weight.Columns;
        _weightDType = ScalarType.Int8;
        _biasData = bias is null ? 0 : (nint)TensorMemory.Address(bias);
    }

    /// <summary>
    /// A layer whose (out, in) <paramref name="weight"/> is quantized into int8 blocks (<see cref="Int8Matrix"/>,
    /// llama.cpp's Q8_0); the caller keeps and disposes <paramref name="weight"/>. CPU inference only.
    /// </summary>
    /// <param name="bias">(out) fp32 on the CPU, owned by the layer, or null.</param>
    public static unsafe Linear Quantized(Tensor weight, Tensor? bias)
    {
        CheckIsMatrix(weight);
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.shape[0] || bias.dtype != ScalarType.Float32 || !IsContiguousOnCpu(bias)))
        {
            throw new ArgumentException($"An int8 layer's bias is (out) = ({weight.shape[0]}) fp32, contiguous on the CPU; this one is [{string.Join(", ", bias.shape)}] {bias.dtype} on {bias.device}.", nameof(bias));
        }
        using var values = weight.to(ScalarType.Float32, torch.CPU).contiguous(); // (out, in)
        return new Linear(Int8Matrix.Quantize((float*)TensorMemory.Address(values), (int)weight.shape[0], (int)weight.shape[1]), bias);
    }

    private static void CheckIsMatrix(Tensor weight)
    {
        if (weight.dim() != 2)
        {
            throw new ArgumentException($"A linear weight is (out, in); this one has {weight.dim()} dimensions.", nameof(weight));
        }
    }

    private static bool IsContiguousOnCpu(Tensor tensor) => tensor.device_type == DeviceType.CPU && tensor.is_contiguous();

    /// <summary>(out, in), as loaded: fp32, or bf16 when the engine keeps weights in bf16. int8 layers have none.</summary>
    public Tensor Weight => _weight ?? throw new InvalidOperationException("This layer's weights are int8 blocks (Int8Matrix), not a tensor.");

    public Tensor? Bias => _bias;

    public long InFeatures => _inFeatures;

    public long OutFeatures => _outFeatures;

    /// <param name="x">(…, in): (T, in) in inference, (B, T, in) in training.</param>
    /// <returns>(…, out) in x's dtype.</returns>
    public Tensor Forward(Tensor x)
    {
        // The kernel reads the addresses kept at construction: a disposed weight (or a tied one its owner disposed)
        // fails here, a managed check, instead of being read after it is freed.
        ObjectDisposedException.ThrowIf((_weight?.IsInvalid ?? _int8!.IsDisposed) || (_bias?.IsInvalid ?? false), this);
        if (_int8 is not null)
        {
            return ForwardInt8(x);
        }
        if (IsCpuInferenceOnRows(x))
        {
            var rows = x.is_contiguous() ? x : x.contiguous(); // contiguous() would wrap x in a new tensor
            if (x.shape[0] <= LinearCrossover.KernelMaxRows(_weightDType))
            {
                return ForwardWithKernel(rows); // (T, out)
            }
            if (UsesPackedKernel)
            {
                return ForwardWithPackedKernel(rows); // (T, out)
            }
        }
        if (_weightDType == x.dtype)
        {
            return nn.functional.linear(x, _weight!, _bias); // (…, out)
        }
        // bf16 weights, fp32 activations, a batch past the kernel's crossover: oneDNN's AVX512-BF16 product,
        // summed in fp32 by oneDNN and returned as fp32; the bias is added in fp32.
        var y = nn.functional.linear(x.to_type(_weightDType), _weight!).to_type(x.dtype); // (…, out)
        return _bias is null ? y : y.add_(_bias);
    }

    // fp32 weights past the decode kernel's rows (a prefill chunk): our AVX-512 product, where libtorch's oneMKL
    // runs its AVX2 kernel on AMD CPUs at half the speed (PackedLinearKernel). bf16 weights stay with oneDNN.
    private bool UsesPackedKernel =>
        _weightDType == ScalarType.Float32 && LinearCrossover.PackedFloat32 && PackedLinearKernel.IsSupported;

    /// <summary>Whether x·Wᵀ can run on raw memory: (T, in) fp32 on the CPU, this layer's weights there too, no gradient.</summary>
    private bool IsCpuInferenceOnRows(Tensor x) =>
        _weightData != 0
        && (_bias is null || _biasData != 0)
        && x.device_type == DeviceType.CPU
        && x.dim() == 2
        && x.dtype == ScalarType.Float32
        && !x.requires_grad && !_weight!.requires_grad && (_bias is null || !_bias.requires_grad);

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

    /// <param name="x">(T, in) fp32, contiguous, on the CPU; T past the decode kernel's rows.</param>
    /// <returns>(T, out) fp32.</returns>
    private unsafe Tensor ForwardWithPackedKernel(Tensor x)
    {
        var rows = (int)x.shape[0];
        var y = torch.empty(rows, OutFeatures, ScalarType.Float32); // (T, out)
        PackedLinearKernel.Float32((float*)TensorMemory.Address(x), rows, (int)InFeatures, (float*)_weightData, (int)OutFeatures,
            (float*)_biasData, (float*)TensorMemory.Address(y));
        GC.KeepAlive(x);
        return y;
    }

    /// <param name="x">(…, in) fp32 on the CPU, no gradient.</param>
    /// <returns>(…, out) fp32.</returns>
    private unsafe Tensor ForwardInt8(Tensor x)
    {
        if (x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32 || x.requires_grad)
        {
            throw new NotSupportedException($"An int8 layer multiplies fp32 CPU activations without gradients; these are {x.dtype} on {x.device}{(x.requires_grad ? " with a gradient" : "")}.");
        }
        if (x.dim() == 2 && x.is_contiguous())
        {
            return ForwardInt8Rows(x); // the inference case: no reshape, no scope (each is a native call per layer per step)
        }
        using var scope = torch.NewDisposeScope();
        var y = ForwardInt8Rows(x.reshape(-1, InFeatures).contiguous()); // (T, out)
        var shape = x.shape;
        shape[^1] = OutFeatures;
        return y.view(shape).MoveToOuterDisposeScope();                 // (…, out)
    }

    /// <param name="rows">(T, in) fp32, contiguous, on the CPU.</param>
    /// <returns>(T, out) fp32.</returns>
    private unsafe Tensor ForwardInt8Rows(Tensor rows)
    {
        var count = rows.shape[0];
        var y = torch.empty(count, OutFeatures, ScalarType.Float32); // (T, out)
        Int8LinearKernel.Run((float*)TensorMemory.Address(rows), (int)count, _int8!, (float*)_biasData, (float*)TensorMemory.Address(y));
        GC.KeepAlive(rows);
        return y;
    }

    public void Dispose()
    {
        _weight?.Dispose();
        _int8?.Dispose();
        _bias?.Dispose();
    }
}
