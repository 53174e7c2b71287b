using Cluster.Engine.Weights;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// Builds <see cref="Linear"/> layers from checkpoint keys: the weight in the weights' dtype, the bias in the compute
/// dtype. Here rather than in <see cref="WeightLoader"/>, which reads tensors and knows no module.
/// </summary>
public static class LinearLoading
{
    /// <summary>A linear layer: its (out, in) weight and its bias, if any.</summary>
    public static Linear LoadLinear(this WeightLoader weights, string weight, string? bias = null) =>
        Create(weights, weights.LoadMatrix(weight), bias is null ? null : weights.Load(bias));

    /// <summary>A fused linear layer: weights (and biases) of several projections concatenated along the output dim.</summary>
    public static Linear LoadLinearConcatenated(this WeightLoader weights, string[] matrices, string[]? biases = null) =>
        Create(weights, weights.LoadMatrices(matrices), biases is null ? null : weights.LoadConcatenated(biases));

    /// <summary>A GPT-2 Conv1D layer, its weight stored (in, out), as an nn.Linear-style (out, in) layer.</summary>
    public static Linear LoadLinearTransposed(this WeightLoader weights, string weight, string bias) =>
        Create(weights, weights.LoadTransposedMatrix(weight), weights.Load(bias));

    /// <summary>
    /// A tied LM head's projection: the embedding matrix itself, its copy in the weights' dtype, or its int8 blocks
    /// (the embedding lookups keep reading the table in the compute dtype).
    /// </summary>
    public static (Linear Projection, bool Owned) TiedProjection(this WeightLoader weights, Tensor embedding) =>
        weights.WeightDType == ScalarType.Int8 ? (Linear.Quantized(embedding, null), true)
        : embedding.dtype == weights.WeightDType ? (new Linear(embedding, null), false)
        : (new Linear(embedding.to_type(weights.WeightDType), null), true);

    /// <summary>The module for a weight as loaded: kept as it is, or quantized into int8 blocks and released.</summary>
    private static Linear Create(WeightLoader weights, Tensor weight, Tensor? bias)
    {
        if (weights.WeightDType != ScalarType.Int8)
        {
            return new Linear(weight, bias);
        }
        using (weight)
        {
            return Linear.Quantized(weight, bias);
        }
    }
}
