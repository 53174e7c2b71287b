using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// How the chunks of one step lie in the packed (T, H) hidden states: each chunk's row offset, its positions,
/// and the causal mask of a multi-token chunk against its cache. Built once per shard call and shared by all
/// its layers. Create it inside the caller's dispose scope.
/// </summary>
internal sealed class StepLayout
{
    private StepLayout(IReadOnlyList<SequenceChunk> chunks, int[] offsets, int totalTokens, int[] positionValues, Tensor positions, Tensor?[] masks)
    {
        PositionValues = positionValues;
        Chunks = chunks;
        Offsets = offsets;
        TotalTokens = totalTokens;
        Positions = positions;
        Masks = masks;
    }

    public IReadOnlyList<SequenceChunk> Chunks { get; }

    /// <summary>Row of each chunk's first token in the packed hidden states.</summary>
    public int[] Offsets { get; }

    public int TotalTokens { get; }

    /// <summary>Position of every packed token, on the host, for the C# kernels.</summary>
    public int[] PositionValues { get; }

    /// <summary>Position of every packed token: (T), int64.</summary>
    public Tensor Positions { get; }

    /// <summary>Per chunk, (t, start+t) booleans, true where a query may attend; null for single-token chunks.</summary>
    public Tensor?[] Masks { get; }

    public static StepLayout Create(IReadOnlyList<SequenceChunk> chunks, int maxPositions, Device device)
    {
        if (chunks.Count == 0)
        {
            throw new ArgumentException("A step needs at least one sequence chunk.", nameof(chunks));
        }
        var offsets = new int[chunks.Count];
        var positions = new List<int>();
        var masks = new Tensor?[chunks.Count];
        var seen = new HashSet<Caching.KvCache>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < chunks.Count; i++)
        {
            var c = chunks[i];
            Validate(c, i, maxPositions, seen);
            offsets[i] = positions.Count;
            for (var p = 0; p < c.Length; p++)
            {
                positions.Add(c.StartPosition + p);
            }
            if (c.Length > 1)
            {
                // Query i (at position start+i) sees keys 0..start+i: a lower-triangular band offset by start.
                masks[i] = torch.ones(c.Length, c.StartPosition + c.Length, ScalarType.Bool, device).tril(c.StartPosition);
            }
        }
        var positionValues = positions.ToArray();
        var positionTensor = torch.tensor(positionValues.Select(p => (long)p).ToArray(), ScalarType.Int64, device);
        return new StepLayout(chunks, offsets, positions.Count, positionValues, positionTensor, masks);
    }

    private static void Validate(SequenceChunk c, int index, int maxPositions, HashSet<Caching.KvCache> seen)
    {
        if (c.Cache.IsDisposed)
        {
            throw new ObjectDisposedException($"chunk {index}", "The chunk's KV cache was already released.");
        }
        if (!seen.Add(c.Cache))
        {
            throw new ArgumentException($"Chunk {index} uses a KV cache that another chunk of the same step uses; one chunk per sequence per step.");
        }
        if (c.Length < 1)
        {
            throw new ArgumentException($"Chunk {index} has {c.Length} tokens; a chunk needs at least one.");
        }
        if (c.StartPosition < 0 || c.StartPosition > c.Cache.Length)
        {
            throw new ArgumentException($"Chunk {index} starts at position {c.StartPosition} but its cache holds {c.Cache.Length} positions; a chunk continues its cache or rewrites a suffix of it.");
        }
        if (c.StartPosition + c.Length > maxPositions)
        {
            throw new ArgumentException($"Chunk {index} would reach position {c.StartPosition + c.Length}, beyond the model's context length of {maxPositions}.");
        }
        if (c.TokenIds is { } ids && ids.Count != c.Length)
        {
            throw new ArgumentException($"Chunk {index} declares {c.Length} tokens but carries {ids.Count} token ids.");
        }
    }
}
