using System.Text.Json;
using Cluster.Engine.Configuration;

namespace Cluster.Engine.Weights;

/// <summary>
/// Reads the header of a .safetensors file: an 8-byte little-endian header length, a JSON object
/// <c>{name: {dtype, shape, data_offsets: [begin, end]}}</c> (plus optional <c>__metadata__</c>), then raw
/// little-endian tensor bytes. Only the header is read here; tensor bytes are read on demand, so a layer
/// range never touches the bytes of other layers.
/// </summary>
public static class SafetensorsFile
{
    /// <summary>Headers above this size are refused as corrupt (the format's own reference limit).</summary>
    public const long MaxHeaderBytes = 100L * 1024 * 1024;

    public static IReadOnlyList<TensorEntry> ReadHeader(string path)
    {
        long fileLength;
        byte[] header;
        using (var stream = OpenRead(path))
        {
            fileLength = stream.Length;
            if (fileLength < 8)
            {
                throw new CheckpointException($"{path} is truncated: {fileLength} bytes, too short for the 8-byte safetensors header length.");
            }
            Span<byte> lengthBytes = stackalloc byte[8];
            stream.ReadExactly(lengthBytes);
            var headerLength = BitConverter.ToInt64(lengthBytes);
            if (headerLength <= 0 || headerLength > MaxHeaderBytes)
            {
                throw new CheckpointException($"{path} is corrupt: header length {headerLength} is outside 1..{MaxHeaderBytes} bytes.");
            }
            if (8 + headerLength > fileLength)
            {
                throw new CheckpointException($"{path} is truncated: its header claims {headerLength} bytes but the file holds {fileLength} in all.");
            }
            header = new byte[headerLength];
            stream.ReadExactly(header);
        }
        return ParseHeader(path, header, fileLength);
    }

    private static FileStream OpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"{path} cannot be opened: {e.Message}", e);
        }
    }

    private static List<TensorEntry> ParseHeader(string path, byte[] header, long fileLength)
    {
        var dataStart = 8 + header.Length;
        var dataLength = fileLength - dataStart;
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header);
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path} is corrupt: its header is not valid JSON ({e.Message}).", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new CheckpointException($"{path} is corrupt: its header is not a JSON object.");
            }
            var entries = new List<TensorEntry>();
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    continue;
                }
                entries.Add(ParseEntry(path, property, dataStart, dataLength));
            }
            return entries;
        }
    }

    private static TensorEntry ParseEntry(string path, JsonProperty property, long dataStart, long dataLength)
    {
        try
        {
            var value = property.Value;
            var dtype = value.GetProperty("dtype").GetString() ?? "";
            var shape = value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            var offsets = value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
            {
                throw new CheckpointException($"{path} is corrupt: tensor \"{property.Name}\" has data_offsets [{string.Join(", ", offsets)}].");
            }
            if (shape.Any(d => d < 0))
            {
                throw new CheckpointException($"{path} is corrupt: tensor \"{property.Name}\" has shape {TensorEntry.ShapeToText(shape)}.");
            }
            var byteLength = offsets[1] - offsets[0];
            if (DTypes.ElementSize(dtype) is { } elementSize && byteLength != shape.Aggregate(1L, (a, b) => a * b) * elementSize)
            {
                throw new CheckpointException($"{path} is corrupt: tensor \"{property.Name}\" ({dtype} {TensorEntry.ShapeToText(shape)}) spans {byteLength} bytes.");
            }
            if (offsets[1] > dataLength)
            {
                throw new CheckpointException($"{path} is truncated: tensor \"{property.Name}\" needs bytes [{offsets[0]}, {offsets[1]}) of the data section but the file holds only {dataLength}.");
            }
            return new TensorEntry(property.Name, path, dtype, shape, dataStart + offsets[0], byteLength);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new CheckpointException($"{path} is corrupt: header entry \"{property.Name}\" is malformed ({e.Message}).", e);
        }
    }
}
