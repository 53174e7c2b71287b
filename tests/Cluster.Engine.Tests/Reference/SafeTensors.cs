using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Cluster.Engine.Tests.Reference;

/// <summary>A tensor decoded to double precision, row-major.</summary>
internal sealed record RefTensor(string Name, int[] Shape, double[] Data)
{
    public string ShapeText => "(" + string.Join(", ", Shape) + ")";

    /// <summary>Throws unless the tensor has exactly the expected shape.</summary>
    public RefTensor Expect(params int[] shape)
    {
        if (!Shape.SequenceEqual(shape))
        {
            throw new InvalidDataException(
                $"Tensor '{Name}' has shape {ShapeText}, expected ({string.Join(", ", shape)}).");
        }
        return this;
    }
}

/// <summary>One entry of a safetensors header.</summary>
internal sealed record SafeTensorEntry(string Name, string DType, int[] Shape, long Begin, long End);

/// <summary>
/// Minimal safetensors reader: 8-byte little-endian header length, a JSON header
/// {name: {dtype, shape, data_offsets: [begin, end]}} with optional "__metadata__",
/// then the raw little-endian data; offsets are relative to the first byte after the header.
/// </summary>
internal sealed class SafeTensorsFile
{
    private SafeTensorsFile(string path, long dataStart, Dictionary<string, SafeTensorEntry> entries, Dictionary<string, string> metadata)
    {
        FilePath = path;
        DataStart = dataStart;
        Entries = entries;
        Metadata = metadata;
    }

    public string FilePath { get; }
    public long DataStart { get; }
    public IReadOnlyDictionary<string, SafeTensorEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public static SafeTensorsFile Open(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > (ulong)(stream.Length - 8))
        {
            throw new InvalidDataException($"{path}: header length {headerLength} exceeds the file size {stream.Length}.");
        }
        var headerBytes = new byte[(int)headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength;
        long dataLength = stream.Length - dataStart;

        var entries = new Dictionary<string, SafeTensorEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(headerBytes).TrimEnd(' ', '\0'));
        foreach (var property in doc.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                foreach (var m in property.Value.EnumerateObject())
                {
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                }
                continue;
            }
            var value = property.Value;
            string dtype = value.GetProperty("dtype").GetString()
                ?? throw new InvalidDataException($"{path}: tensor '{property.Name}' has no dtype.");
            int[] shape = value.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            long[] offsets = value.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
            {
                throw new InvalidDataException($"{path}: tensor '{property.Name}' has bad data_offsets [{string.Join(", ", offsets)}].");
            }
            long count = 1;
            foreach (int d in shape)
            {
                count *= d;
            }
            long expectedBytes = count * SafeTensorsDecoding.ElementSize(dtype, property.Name);
            if (offsets[1] - offsets[0] != expectedBytes)
            {
                throw new InvalidDataException(
                    $"{path}: tensor '{property.Name}' ({dtype}, shape [{string.Join(", ", shape)}]) spans {offsets[1] - offsets[0]} bytes, expected {expectedBytes}.");
            }
            entries[property.Name] = new SafeTensorEntry(property.Name, dtype, shape, offsets[0], offsets[1]);
        }
        return new SafeTensorsFile(path, dataStart, entries, metadata);
    }

    public RefTensor Read(string name)
    {
        if (!Entries.TryGetValue(name, out var entry))
        {
            throw new KeyNotFoundException($"Tensor '{name}' is not in {FilePath}.");
        }
        var bytes = new byte[entry.End - entry.Begin];
        using (var stream = File.OpenRead(FilePath))
        {
            stream.Seek(DataStart + entry.Begin, SeekOrigin.Begin);
            stream.ReadExactly(bytes);
        }
        return new RefTensor(name, entry.Shape, SafeTensorsDecoding.Decode(entry.DType, bytes, name));
    }
}

/// <summary>Decoding of safetensors element types to double, written out by hand (no System.Half).</summary>
internal static class SafeTensorsDecoding
{
    public static int ElementSize(string dtype, string tensorName) => dtype switch
    {
        "F64" => 8,
        "F32" => 4,
        "F16" or "BF16" => 2,
        _ => throw new NotSupportedException($"Tensor '{tensorName}' has dtype {dtype}; the reference reads F64, F32, F16 and BF16."),
    };

    public static double[] Decode(string dtype, ReadOnlySpan<byte> bytes, string tensorName)
    {
        int size = ElementSize(dtype, tensorName);
        var result = new double[bytes.Length / size];
        for (int i = 0; i < result.Length; i++)
        {
            var element = bytes.Slice(i * size, size);
            result[i] = dtype switch
            {
                "F64" => BitConverter.Int64BitsToDouble(BinaryPrimitives.ReadInt64LittleEndian(element)),
                "F32" => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadInt32LittleEndian(element)),
                "F16" => HalfBitsToDouble(BinaryPrimitives.ReadUInt16LittleEndian(element)),
                _ => BFloat16BitsToDouble(BinaryPrimitives.ReadUInt16LittleEndian(element)),
            };
        }
        return result;
    }

    /// <summary>IEEE 754 binary16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.</summary>
    public static double HalfBitsToDouble(ushort bits)
    {
        int sign = bits >> 15;
        int exponent = (bits >> 10) & 0x1F;
        int mantissa = bits & 0x3FF;
        double magnitude;
        if (exponent == 0)
        {
            magnitude = mantissa * Math.Pow(2, -24); // zero and subnormals
        }
        else if (exponent == 0x1F)
        {
            magnitude = mantissa == 0 ? double.PositiveInfinity : double.NaN;
        }
        else
        {
            magnitude = (1.0 + mantissa / 1024.0) * Math.Pow(2, exponent - 15);
        }
        return sign == 1 ? -magnitude : magnitude;
    }

    /// <summary>bfloat16 is the upper half of an IEEE 754 binary32.</summary>
    public static double BFloat16BitsToDouble(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);
}

/// <summary>
/// The tensors of a Hugging Face checkpoint directory: model.safetensors, or the shards named by
/// model.safetensors.index.json ("weight_map": {tensor name: shard file}).
/// </summary>
internal sealed class CheckpointTensors
{
    private readonly Dictionary<string, SafeTensorsFile> _owner;

    private CheckpointTensors(string directory, Dictionary<string, SafeTensorsFile> owner)
    {
        Directory = directory;
        _owner = owner;
    }

    public string Directory { get; }
    public IEnumerable<string> Names => _owner.Keys;

    public static CheckpointTensors Open(string directory)
    {
        var owner = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        string single = Path.Combine(directory, "model.safetensors");
        string index = Path.Combine(directory, "model.safetensors.index.json");
        if (File.Exists(single))
        {
            var file = SafeTensorsFile.Open(single);
            foreach (string name in file.Entries.Keys)
            {
                owner[name] = file;
            }
        }
        else if (File.Exists(index))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(index));
            if (!doc.RootElement.TryGetProperty("weight_map", out var weightMap))
            {
                throw new InvalidDataException($"{index} has no \"weight_map\".");
            }
            var shards = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            foreach (var property in weightMap.EnumerateObject())
            {
                string shardName = property.Value.GetString()
                    ?? throw new InvalidDataException($"{index}: weight_map entry '{property.Name}' is not a file name.");
                if (!shards.TryGetValue(shardName, out var shard))
                {
                    shard = SafeTensorsFile.Open(Path.Combine(directory, shardName));
                    shards[shardName] = shard;
                }
                if (!shard.Entries.ContainsKey(property.Name))
                {
                    throw new KeyNotFoundException($"{index} maps tensor '{property.Name}' to {shardName}, which does not hold it.");
                }
                owner[property.Name] = shard;
            }
        }
        else
        {
            throw new FileNotFoundException($"Neither model.safetensors nor model.safetensors.index.json is in {directory}.");
        }
        return new CheckpointTensors(directory, owner);
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    public RefTensor Get(string name)
    {
        if (!_owner.TryGetValue(name, out var file))
        {
            throw new KeyNotFoundException($"The checkpoint in {Directory} has no tensor '{name}'.");
        }
        return file.Read(name);
    }
}
