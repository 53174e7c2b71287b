using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Weights;

/// <summary>
/// Writes the safetensors format as Hugging Face's <c>save_file</c> does: an 8-byte little-endian header length,
/// a JSON header padded with spaces to 8 bytes, then each tensor's raw little-endian bytes in the order given.
/// </summary>
public static class SafetensorsFileWriter
{
    public static void Write(string path, IReadOnlyList<(string Name, Tensor Value)> tensors, ScalarType diskDType, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var dtypeName = DTypes.SafetensorsName(diskDType);
        using var scope = torch.NewDisposeScope();
        // Converted on the CPU, contiguous, so that .bytes is the row-major data.
        var converted = tensors.Select(t => (t.Name, Value: t.Value.detach().to(diskDType, CPU).contiguous())).ToArray();

        using var headerBuffer = new MemoryStream();
        using (var header = new Utf8JsonWriter(headerBuffer))
        {
            header.WriteStartObject();
            header.WriteStartObject("__metadata__");
            header.WriteString("format", "pt");
            foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            {
                header.WriteString(key, value);
            }
            header.WriteEndObject();
            long offset = 0;
            foreach (var (name, value) in converted)
            {
                var bytes = value.numel() * value.ElementSize;
                header.WriteStartObject(name);
                header.WriteString("dtype", dtypeName);
                header.WriteStartArray("shape");
                foreach (var d in value.shape)
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
        file.Write(BitConverter.GetBytes((long)padded));
        file.Write(json);
        for (var i = json.Length; i < padded; i++)
        {
            file.WriteByte((byte)' ');
        }
        foreach (var (_, value) in converted)
        {
            file.Write(value.bytes);
        }
    }
}
