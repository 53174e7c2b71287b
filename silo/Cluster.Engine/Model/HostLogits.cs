using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// A step's logits, (N, V) float32, in one host buffer that lives across steps: the sampler reads each row as a span.
/// A fresh N·V array per step (6.4 MB at 32 sequences of a 50k vocabulary) cost more than the LM head itself on this
/// VM, where the runtime hands a new large array fresh pages and every page faults on first touch; a kept buffer is
/// touched once. Not thread-safe: one per executor, which runs one step at a time.
/// </summary>
public sealed class HostLogits
{
    private float[] _buffer = [];

    /// <summary>Rows of the last <see cref="Load"/>.</summary>
    public int Rows { get; private set; }

    /// <summary>Vocabulary size V of the last <see cref="Load"/>.</summary>
    public int Vocabulary { get; private set; }

    /// <summary>Copies <paramref name="logits"/> (N, V) float32, on any device, into the buffer, growing it if needed.</summary>
    public unsafe void Load(Tensor logits)
    {
        if (logits.dim() != 2 || logits.dtype != ScalarType.Float32)
        {
            throw new ArgumentException($"Logits are (N, V) float32; these are {logits.dtype} of shape [{string.Join(", ", logits.shape)}].", nameof(logits));
        }
        using var scope = torch.NewDisposeScope();
        var host = logits.device_type == DeviceType.CPU && logits.is_contiguous() ? logits : logits.cpu().contiguous(); // (N, V)
        var count = checked((int)host.numel());
        if (_buffer.Length < count)
        {
            _buffer = new float[count];
        }
        new ReadOnlySpan<float>(TensorMemory.Address(host), count).CopyTo(_buffer);
        (Rows, Vocabulary) = ((int)host.shape[0], (int)host.shape[1]);
    }

    /// <summary>Row <paramref name="row"/> of the last load: one sequence's V logits.</summary>
    public ReadOnlySpan<float> Row(int row)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        return _buffer.AsSpan(row * Vocabulary, Vocabulary);
    }
}
