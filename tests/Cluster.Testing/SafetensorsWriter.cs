using System.Text;
using System.Text.Json;

namespace Cluster.Testing;

/// <summary>On-disk dtypes a test checkpoint can be written in.</summary>
public enum DiskDType
{
    F32,
    F16,
    BF16,
}

/// <summary>
/// Writes the safetensors format (8-byte little-endian header length, JSON header, raw little-endian data),
/// as Hugging Face's <c>save_file</c> does: tensors in the order given, header padded with spaces to 8 bytes.
/// </summary>
/// <remarks>
/// Deliberately independent of the engine's own <c>SafetensorsFileWriter</c> (used by training): this one writes bytes
/// from plain floats, without TorchSharp, so the loader's tests check it against a second implementation of the
/// format instead of against its own mirror image.
/// </remarks>
public static class SafetensorsWriter
{
    public sealed record Tensor(string Name, long[] Shape, float[] Values);

    public static void Write(string path, IReadOnlyList<Tensor> tensors, DiskDType dtype, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var elementSize = dtype == DiskDType.F32 ? 4 : 2;
        using var headerBuffer = new MemoryStream();
        using (var header = new Utf8JsonWriter(headerBuffer))
        {
            header.WriteStartObject();
            if (metadata is not null)
            {
                header.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata)
                {
                    header.WriteString(key, value);
                }
                header.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                var bytes = (long)t.Values.Length * elementSize;
                header.WriteStartObject(t.Name);
                header.WriteString("dtype", dtype.ToString());
                header.WriteStartArray("shape");
                foreach (var d in t.Shape)
                {
                    header.WriteNumberValue(d);
                }
                header.WriteEndArray();
                header.WriteStartArray("data_offsets");
                header.WriteNumberValue(offset);
                header.WriteNumberValue(offset + bytes);
                header.WriteEndArray();
                header.WriteEndObject();
                offset += bytes;
            }
            header.WriteEndObject();
        }
        var json = headerBuffer.ToArray();
        var padded = (json.Length + 7) / 8 * 8;
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        using var writer = new BinaryWriter(file);
        writer.Write((long)padded);
        writer.Write(json);
        for (var i = json.Length; i < padded; i++)
        {
            writer.Write((byte)' ');
        }
        foreach (var t in tensors)
        {
            foreach (var v in t.Values)
            {
                switch (dtype)
                {
                    case DiskDType.F32: writer.Write(v); break;
                    case DiskDType.F16: writer.Write(BitConverter.HalfToUInt16Bits((Half)v)); break;
                    default: writer.Write(ToBFloat16Bits(v)); break;
                }
            }
        }
    }

    /// <summary>float32 → bfloat16 with round-to-nearest-even, as torch converts.</summary>
    public static ushort ToBFloat16Bits(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }
        var rounding = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>The value a float32 becomes after a round trip through <paramref name="dtype"/>.</summary>
    public static float RoundTrip(float value, DiskDType dtype) => dtype switch
    {
        DiskDType.F16 => (float)(Half)value,
        DiskDType.BF16 => BitConverter.UInt32BitsToSingle((uint)ToBFloat16Bits(value) << 16),
        _ => value,
    };
}
