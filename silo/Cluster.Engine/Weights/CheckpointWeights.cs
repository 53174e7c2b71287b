using System.Text.Json;
using Cluster.Engine.Configuration;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Weights;

/// <summary>
/// The tensors of a checkpoint directory: a single <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c>. Holds only headers; <see cref="Load"/> reads one tensor's bytes
/// straight from the file into the tensor's memory.
/// </summary>
public sealed class CheckpointWeights
{
    private readonly Dictionary<string, TensorEntry> _entries;

    private CheckpointWeights(string directory, Dictionary<string, TensorEntry> entries)
    {
        Directory = directory;
        _entries = entries;
    }

    public string Directory { get; }

    public IReadOnlyCollection<TensorEntry> Entries => _entries.Values;

    public bool Contains(string name) => _entries.ContainsKey(name);

    public TensorEntry Entry(string name) => _entries.TryGetValue(name, out var entry)
        ? entry
        : throw new CheckpointException($"Tensor \"{name}\" is missing from the checkpoint in {Directory}.");

    public static CheckpointWeights Open(string directory)
    {
        var indexPath = Path.Combine(directory, "model.safetensors.index.json");
        var files = File.Exists(indexPath) ? ShardsFromIndex(indexPath) : SingleFile(directory);
        var entries = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            foreach (var entry in SafetensorsFile.ReadHeader(file))
            {
                if (!entries.TryAdd(entry.Name, entry))
                {
                    throw new CheckpointException($"Tensor \"{entry.Name}\" appears in both {entries[entry.Name].FilePath} and {file}.");
                }
            }
        }
        return new CheckpointWeights(directory, entries);
    }

    private static IReadOnlyList<string> SingleFile(string directory)
    {
        var single = Path.Combine(directory, "model.safetensors");
        if (File.Exists(single))
        {
            return [single];
        }
        var any = System.IO.Directory.Exists(directory) ? System.IO.Directory.GetFiles(directory, "*.safetensors") : [];
        if (any.Length == 0)
        {
            throw new CheckpointException($"No model.safetensors, model.safetensors.index.json or *.safetensors in {directory}.");
        }
        Array.Sort(any, StringComparer.Ordinal);
        return any;
    }

    private static IReadOnlyList<string> ShardsFromIndex(string indexPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(indexPath));
            var dir = Path.GetDirectoryName(indexPath)!;
            var shards = doc.RootElement.GetProperty("weight_map").EnumerateObject()
                .Select(p => p.Value.GetString() ?? throw new CheckpointException($"{indexPath}: weight_map entry \"{p.Name}\" is not a file name."))
                .Distinct(StringComparer.Ordinal)
                .Order(StringComparer.Ordinal)
                .Select(name => Path.Combine(dir, name))
                .ToArray();
            foreach (var shard in shards.Where(s => !File.Exists(s)))
            {
                throw new CheckpointException($"{indexPath} lists shard {Path.GetFileName(shard)}, which is not in {dir}.");
            }
            return shards;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new CheckpointException($"{indexPath} is malformed: {e.Message}", e);
        }
    }

    /// <summary>
    /// Reads tensor <paramref name="name"/> (checked against <paramref name="expectedShape"/>) and returns it
    /// in <paramref name="dtype"/> on <paramref name="device"/>. The result is not tracked by any dispose scope:
    /// the caller owns it.
    /// </summary>
    public Tensor Load(string name, long[] expectedShape, ScalarType dtype, Device device)
    {
        var entry = Entry(name);
        CheckShape(entry, expectedShape);
        var diskType = DTypes.WeightScalarType(entry.DType)
            ?? throw new CheckpointException($"Tensor \"{name}\" in {entry.FilePath} has dtype {entry.DType}; weights must be F32, F16 or BF16.");
        using var scope = torch.NewDisposeScope();
        var raw = torch.empty(expectedShape, diskType);
        ReadInto(entry, raw);
        var result = raw.to(dtype, device);
        return result.DetachFromDisposeScope();
    }

    public static void CheckShape(TensorEntry entry, long[] expectedShape)
    {
        if (!entry.Shape.SequenceEqual(expectedShape))
        {
            throw new CheckpointException(
                $"Tensor \"{entry.Name}\" in {entry.FilePath} has shape {entry.ShapeText}; the model config expects {TensorEntry.ShapeToText(expectedShape)}.");
        }
    }

    // Reads the tensor's bytes from the file into the tensor's own (contiguous, CPU) memory, in chunks
    // below 1 GiB because a Span cannot address more than 2 GiB.
    private static void ReadInto(TensorEntry entry, Tensor destination)
    {
        const long chunkBytes = 1L << 30;
        using var handle = File.OpenHandle(entry.FilePath, FileMode.Open, FileAccess.Read, FileShare.Read);
        using var flat = destination.view(-1);
        var elementSize = (long)destination.ElementSize;
        var elementsPerChunk = chunkBytes / elementSize;
        for (long first = 0; first < flat.shape[0]; first += elementsPerChunk)
        {
            var count = Math.Min(elementsPerChunk, flat.shape[0] - first);
            using var part = flat.narrow(0, first, count);
            ReadExactly(handle, part.bytes, entry.FileOffset + first * elementSize, entry);
        }
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, TensorEntry entry)
    {
        while (!buffer.IsEmpty)
        {
            var read = RandomAccess.Read(handle, buffer, offset);
            if (read == 0)
            {
                throw new CheckpointException($"{entry.FilePath} is truncated: reading tensor \"{entry.Name}\" reached the end of the file at byte {offset}.");
            }
            buffer = buffer[read..];
            offset += read;
        }
    }
}
