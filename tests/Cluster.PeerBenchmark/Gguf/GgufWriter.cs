using Cluster.Kernels;
using System.Buffers.Binary;
using System.Text;

namespace Cluster.PeerBenchmark.Gguf;

/// <summary>
/// Writes a GGUF file (version 3): magic "GGUF", version, tensor count, metadata count; the metadata key/value
/// pairs; each tensor's name, dimensions (innermost first), ggml type and data offset; then the tensor data, each
/// tensor aligned to <see cref="Alignment"/> bytes from the start of the data section. Tensor bytes are produced one
/// tensor at a time while writing, so a large model never sits in memory whole.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>GGUF's default alignment (general.alignment), which this writer also records explicitly.</summary>
    public const int Alignment = 32;

    private static readonly byte[] Magic = "GGUF"u8.ToArray();
    private const uint Version = 3;

    private readonly List<(string Key, GgufValueType Type, object Value)> _metadata = [];
    private readonly List<PendingTensor> _tensors = [];

    /// <summary>A tensor to write: <paramref name="Shape"/> in row-major (PyTorch) order; <paramref name="Data"/> returns exactly its bytes.</summary>
    private sealed record PendingTensor(string Name, long[] Shape, GgmlType Type, Func<byte[]> Data)
    {
        public long ByteLength => Type.ByteCount(Shape.Aggregate(1L, (a, b) => a * b));
    }

    public GgufWriter()
    {
        Add("general.alignment", (uint)Alignment);
    }

    public void Add(string key, string value) => AddEntry(key, GgufValueType.String, value);
    public void Add(string key, uint value) => AddEntry(key, GgufValueType.UInt32, value);
    public void Add(string key, int value) => AddEntry(key, GgufValueType.Int32, value);
    public void Add(string key, float value) => AddEntry(key, GgufValueType.Float32, value);
    public void Add(string key, bool value) => AddEntry(key, GgufValueType.Bool, value);
    public void AddArray(string key, IReadOnlyList<string> values) => AddEntry(key, GgufValueType.Array, (GgufValueType.String, (object)values));
    public void AddArray(string key, IReadOnlyList<int> values) => AddEntry(key, GgufValueType.Array, (GgufValueType.Int32, (object)values));
    public void AddArray(string key, IReadOnlyList<float> values) => AddEntry(key, GgufValueType.Array, (GgufValueType.Float32, (object)values));

    private void AddEntry(string key, GgufValueType type, object value)
    {
        if (_metadata.Any(m => m.Key == key))
        {
            throw new ArgumentException($"GGUF metadata key \"{key}\" is already set.", nameof(key));
        }
        _metadata.Add((key, type, value));
    }

    /// <summary>Adds a tensor; <paramref name="shape"/> is row-major (PyTorch order), written to GGUF innermost first.</summary>
    public void AddTensor(string name, long[] shape, GgmlType type, Func<byte[]> data)
    {
        if (_tensors.Any(t => t.Name == name))
        {
            throw new ArgumentException($"GGUF tensor \"{name}\" is already added.", nameof(name));
        }
        _tensors.Add(new PendingTensor(name, shape, type, data));
    }

    public void Write(string path)
    {
        var temporary = path + ".partial";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        using (var w = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true))
        {
            WriteHeader(w);
            Pad(w);
            var dataStart = file.Position;
            foreach (var tensor in _tensors)
            {
                var bytes = tensor.Data();
                if (bytes.LongLength != tensor.ByteLength)
                {
                    throw new InvalidOperationException($"Tensor \"{tensor.Name}\" produced {bytes.LongLength} bytes; its shape and type need {tensor.ByteLength}.");
                }
                w.Write(bytes);
                Pad(w, dataStart);
            }
        }
        File.Move(temporary, path, overwrite: true);
    }

    private void WriteHeader(BinaryWriter w)
    {
        // BinaryWriter writes little-endian on every platform, as GGUF requires.
        w.Write(Magic);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, type, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)type);
            WriteValue(w, type, value);
        }
        long offset = 0;
        foreach (var tensor in _tensors)
        {
            WriteString(w, tensor.Name);
            w.Write((uint)tensor.Shape.Length);
            foreach (var dim in tensor.Shape.Reverse())
            {
                w.Write((ulong)dim); // ggml's ne[0] is the innermost (contiguous) dimension
            }
            w.Write((uint)tensor.Type);
            w.Write((ulong)offset);
            offset = AlignUp(offset + tensor.ByteLength);
        }
    }

    private static void WriteValue(BinaryWriter w, GgufValueType type, object value)
    {
        switch (type)
        {
            case GgufValueType.String:
                WriteString(w, (string)value);
                break;
            case GgufValueType.UInt32:
                w.Write((uint)value);
                break;
            case GgufValueType.Int32:
                w.Write((int)value);
                break;
            case GgufValueType.Float32:
                w.Write((float)value);
                break;
            case GgufValueType.Bool:
                w.Write((byte)((bool)value ? 1 : 0));
                break;
            case GgufValueType.Array:
                var (elementType, items) = ((GgufValueType, object))value;
                w.Write((uint)elementType);
                switch (items)
                {
                    case IReadOnlyList<string> strings:
                        w.Write((ulong)strings.Count);
                        foreach (var s in strings)
                        {
                            WriteString(w, s);
                        }
                        break;
                    case IReadOnlyList<int> ints:
                        w.Write((ulong)ints.Count);
                        foreach (var i in ints)
                        {
                            w.Write(i);
                        }
                        break;
                    case IReadOnlyList<float> floats:
                        w.Write((ulong)floats.Count);
                        foreach (var f in floats)
                        {
                            w.Write(f);
                        }
                        break;
                    default:
                        throw new InvalidOperationException($"Unsupported GGUF array of {elementType}.");
                }
                break;
            default:
                throw new InvalidOperationException($"Unsupported GGUF value type {type}.");
        }
    }

    // A GGUF string: u64 byte length, then UTF-8 bytes, no terminator.
    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static long AlignUp(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(BinaryWriter w, long origin = 0)
    {
        var position = w.BaseStream.Position - origin;
        var padding = (int)(AlignUp(position) - position);
        Span<byte> zeros = stackalloc byte[Alignment];
        w.Write(zeros[..padding]);
    }

    /// <summary>
    /// Little-endian bytes of <paramref name="values"/> as <paramref name="type"/> (round to nearest even for f16 and
    /// bf16; Q8_0 blocks quantized by our engine's own <see cref="Int8Matrix"/>, so both runtimes multiply the same
    /// integers and scales).
    /// </summary>
    public static byte[] Encode(ReadOnlySpan<float> values, GgmlType type)
    {
        var bytes = new byte[type.ByteCount(values.Length)];
        switch (type)
        {
            case GgmlType.Q8_0:
                EncodeQ8(values, bytes);
                break;
            case GgmlType.F32:
                for (var i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), values[i]);
                }
                break;
            case GgmlType.F16:
                for (var i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)values[i]);
                }
                break;
            case GgmlType.BF16:
                for (var i = 0; i < values.Length; i++)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(2 * i), BFloat16.FromSingle(values[i]));
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Unsupported ggml type.");
        }
        return bytes;
    }

    /// <summary>Q8_0 blocks: per 32 values an fp16 scale d, then the 32 integers q (w ≈ q·d).</summary>
    private static unsafe void EncodeQ8(ReadOnlySpan<float> values, byte[] bytes)
    {
        if (values.Length % GgufWeightTypes.Q8BlockSize != 0)
        {
            throw new ArgumentException($"Q8_0 needs whole blocks of {GgufWeightTypes.Q8BlockSize} values; this tensor has {values.Length}.", nameof(values));
        }
        var blocks = values.Length / GgufWeightTypes.Q8BlockSize;
        fixed (float* source = values)
        {
            // Each block as one row of 32 columns: Int8Matrix quantizes per row and block, so this is Q8_0 of the
            // flat tensor, whose rows are whole blocks.
            using var matrix = Int8Matrix.Quantize(source, blocks, GgufWeightTypes.Q8BlockSize);
            for (var b = 0; b < blocks; b++)
            {
                var at = b * 34;
                BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(at), (Half)matrix.Scale(b, 0));
                for (var i = 0; i < GgufWeightTypes.Q8BlockSize; i++)
                {
                    bytes[at + 2 + i] = (byte)matrix.Quant(b, i);
                }
            }
        }
    }
}
