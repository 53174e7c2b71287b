using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>Stage 0's first step: token ids and their positions to hidden states.</summary>
public interface IEmbedding : IDisposable
{
    /// <summary>The (V, H) token embedding matrix, which a tied LM head reuses.</summary>
    Tensor TokenWeight { get; }

    /// <summary>The (P, H) learned position table (GPT-2's wpe), or null where position enters by rotation.</summary>
    Tensor? PositionWeight { get; }

    /// <param name="tokenIds">(T), int64.</param>
    /// <param name="positions">(T), int64.</param>
    /// <returns>(T, H).</returns>
    Tensor Forward(Tensor tokenIds, Tensor positions);
}

/// <summary>Llama: a token embedding table; position enters later, by rotating queries and keys.</summary>
public sealed class TokenEmbedding(Tensor weight) : IEmbedding
{
    public Tensor TokenWeight => weight;

    public Tensor? PositionWeight => null;

    public Tensor Forward(Tensor tokenIds, Tensor positions) => weight.index_select(0, tokenIds); // (T, H)

    public void Dispose() => weight.Dispose();
}

/// <summary>GPT-2: token embedding plus a learned absolute position embedding.</summary>
public sealed class TokenAndPositionEmbedding(Tensor tokenWeight, Tensor positionWeight) : IEmbedding
{
    public Tensor TokenWeight => tokenWeight;

    public Tensor? PositionWeight => positionWeight;

    public Tensor Forward(Tensor tokenIds, Tensor positions) =>
        tokenWeight.index_select(0, tokenIds).add(positionWeight.index_select(0, positions)); // (T, H)

    public void Dispose()
    {
        tokenWeight.Dispose();
        positionWeight.Dispose();
    }
}
