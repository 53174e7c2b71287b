using Cluster.Engine.Configuration;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// Rotary position embeddings in Hugging Face's rotate-half layout: the head dimension is split in two
/// halves that rotate as (x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin). The cos/sin tables for every
/// position up to the context length are computed once, at load.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _cos; // (maxPositions, headDim)
    private readonly Tensor _sin; // (maxPositions, headDim)
    private readonly long _half;

    public RotaryEmbedding(ModelConfig config, ScalarType dtype, Device device)
    {
        var inverseFrequencies = InverseFrequencies(config);
        _half = inverseFrequencies.Length;
        using var scope = torch.NewDisposeScope();
        // fp32 like Hugging Face, so that long positions round the same way as the reference implementation.
        var positions = torch.arange(config.MaxPositionEmbeddings, ScalarType.Float32);    // (P)
        var angles = torch.outer(positions, torch.tensor(inverseFrequencies, ScalarType.Float32)); // (P, headDim/2)
        var doubled = torch.cat([angles, angles], dim: 1);                                     // (P, headDim)
        _cos = doubled.cos().to(dtype, device).DetachFromDisposeScope();
        _sin = doubled.sin().to(dtype, device).DetachFromDisposeScope();
    }

    /// <summary>
    /// inv_freq[j] = 1 / theta^(2j/headDim), then Llama 3's frequency-dependent scaling when configured;
    /// in fp32 arithmetic, as Hugging Face computes them.
    /// </summary>
    public static float[] InverseFrequencies(ModelConfig config)
    {
        var headDim = config.HeadDimension;
        var frequencies = new float[headDim / 2];
        for (var j = 0; j < frequencies.Length; j++)
        {
            frequencies[j] = 1f / MathF.Pow((float)config.RopeTheta, (float)(2 * j) / headDim);
        }
        if (config.RopeScaling is { } s)
        {
            // Hugging Face's _compute_llama3_parameters.
            var factor = (float)s.Factor;
            var low = (float)s.LowFrequencyFactor;
            var high = (float)s.HighFrequencyFactor;
            var original = (float)s.OriginalMaxPositionEmbeddings;
            var lowFrequencyWavelength = original / low;
            var highFrequencyWavelength = original / high;
            for (var j = 0; j < frequencies.Length; j++)
            {
                var wavelength = 2 * MathF.PI / frequencies[j];
                if (wavelength > lowFrequencyWavelength)
                {
                    frequencies[j] /= factor; // long wavelengths: interpolate
                }
                else if (wavelength >= highFrequencyWavelength)
                {
                    var smooth = (original / wavelength - low) / (high - low); // the band between: blend
                    frequencies[j] = (1 - smooth) * frequencies[j] / factor + smooth * frequencies[j];
                }
            }
        }
        return frequencies;
    }

    /// <summary>Rotates <paramref name="x"/> (T, heads, headDim) by the angles of <paramref name="positions"/> (T).</summary>
    public Tensor Apply(Tensor x, Tensor positions)
    {
        var cos = _cos.index_select(0, positions).unsqueeze(1); // (T, 1, headDim)
        var sin = _sin.index_select(0, positions).unsqueeze(1); // (T, 1, headDim)
        var x1 = x.narrow(-1, 0, _half);                        // (T, heads, headDim/2)
        var x2 = x.narrow(-1, _half, _half);
        var rotated = torch.cat([x2.neg(), x1], dim: -1);       // (T, heads, headDim)
        return x.mul(cos).add(rotated.mul(sin));
    }

    /// <summary>
    /// Rotates a step's queries or keys (T, heads, headDim) by the step's positions. On fp32 host tensors whose heads are
    /// packed in each row, the C# kernel rotates <paramref name="x"/> in place and returns it (one call instead of about
    /// ten libtorch operations; inference only, never on a tensor autograd tracks); elsewhere it is <see cref="Apply(Tensor, Tensor)"/>.
    /// </summary>
    internal Tensor Apply(Tensor x, StepLayout step)
    {
        var headDim = x.shape[^1];
        if (x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32 || !RotatesOnHost || x.dim() != 3 || !TensorMemory.HasPackedRows(x, headDim))
        {
            return Apply(x, step.Positions);
        }
        RotateInPlace(TensorMemory.Float32Data(x), x.stride(0), (int)x.shape[1], (int)headDim, step);
        return x;
    }

    /// <summary>True when the tables are fp32 host tensors, so <see cref="RotateInPlace"/> can run.</summary>
    internal bool RotatesOnHost => _cos.device_type == DeviceType.CPU && _cos.dtype == ScalarType.Float32;

    /// <summary>
    /// Rotates (T, heads, headDim) fp32 host rows at <paramref name="data"/>, <paramref name="rowStride"/> floats apart
    /// (the query or key part of a packed q/k/v row), by the step's positions, in place: the C# kernel of
    /// <see cref="Apply(Tensor, StepLayout)"/> without a tensor view. Needs <see cref="RotatesOnHost"/>.
    /// </summary>
    internal void RotateInPlace(nint data, long rowStride, int heads, int headDim, StepLayout step) =>
        Cluster.Kernels.RotaryKernel.RotateInPlace(data, rowStride, heads, headDim,
            step.PositionValues, TensorMemory.Float32Data(_cos), TensorMemory.Float32Data(_sin), (int)_cos.shape[0]);

    public void Dispose()
    {
        _cos.Dispose();
        _sin.Dispose();
    }
}
