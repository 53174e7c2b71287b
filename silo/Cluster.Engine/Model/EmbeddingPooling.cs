using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>How one sequence's hidden states become one vector: the mean over its tokens, or its last token's.</summary>
public enum PoolingKind
{
    /// <summary>The mean over every token of the sequence (sentence-transformers' default).</summary>
    Mean,

    /// <summary>The last token's state: in a causal model the only one that has read the whole text (e5-mistral, gte-Qwen).</summary>
    Last,
}

/// <summary>Pools packed hidden states (T, H) into one vector per chunk, optionally scaled to unit length.</summary>
public static class EmbeddingPooling
{
    /// <param name="hidden">(T, H), the chunks' tokens packed in order.</param>
    /// <param name="lengths">Each chunk's token count, in packing order; they sum to T.</param>
    /// <returns>(N, H) float32.</returns>
    public static Tensor Pool(Tensor hidden, IReadOnlyList<int> lengths, PoolingKind pooling, bool normalize)
    {
        if (hidden.dim() != 2 || hidden.shape[0] != lengths.Sum())
        {
            throw new ArgumentException($"Hidden states of shape [{string.Join(", ", hidden.shape)}] do not hold the {lengths.Sum()} tokens of {lengths.Count} sequences.");
        }
        using var scope = torch.NewDisposeScope();
        var rows = new Tensor[lengths.Count];
        var offset = 0L;
        for (var i = 0; i < lengths.Count; i++)
        {
            var states = hidden.narrow(0, offset, lengths[i]).to_type(ScalarType.Float32); // (t, H)
            rows[i] = pooling == PoolingKind.Mean ? states.mean([0]) : states[lengths[i] - 1]; // (H)
            offset += lengths[i];
        }
        var pooled = torch.stack(rows); // (N, H)
        if (normalize)
        {
            pooled = nn.functional.normalize(pooled, p: 2, dim: 1); // (N, H), each row of length 1
        }
        return pooled.MoveToOuterDisposeScope();
    }
}
