using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using static TorchSharp.torch;

namespace Cluster.Engine.Weights;

/// <summary>
/// Loads the weights a shard needs, by their checkpoint key, after <see cref="CheckStrictly"/> has matched the
/// whole checkpoint against the model's expected keys and shapes.
/// </summary>
public sealed class WeightLoader(CheckpointWeights checkpoint, IReadOnlyList<WeightSpec> expected, ComputePlacement placement)
{
    private readonly Dictionary<string, WeightSpec> _expected = expected.ToDictionary(s => s.Name, StringComparer.Ordinal);

    /// <summary>
    /// Fails on the first of: an expected tensor missing, a tensor with the wrong shape, a tensor the model does
    /// not know (unless <paramref name="isIgnorable"/> says it is a known buffer). Reads headers only.
    /// </summary>
    public void CheckStrictly(Func<string, bool> isIgnorable)
    {
        foreach (var spec in _expected.Values)
        {
            if (!checkpoint.Contains(spec.Name))
            {
                throw new CheckpointException(
                    $"Tensor \"{spec.Name}\" is missing from the checkpoint in {checkpoint.Directory}; the model config expects shape {TensorEntry.ShapeToText(spec.Shape)}.");
            }
            CheckpointWeights.CheckShape(checkpoint.Entry(spec.Name), spec.Shape);
        }
        foreach (var entry in checkpoint.Entries)
        {
            if (!_expected.ContainsKey(entry.Name) && !isIgnorable(entry.Name))
            {
                throw new CheckpointException(
                    $"Unexpected tensor \"{entry.Name}\" {entry.ShapeText} in {entry.FilePath}: the model config does not use it (wrong architecture or config?).");
            }
        }
    }

    /// <summary>Reads one expected tensor, converted to the compute dtype and device.</summary>
    public Tensor Load(string name) => Load(name, placement.DType);

    /// <summary>A linear layer: its (out, in) weight in the weights' dtype, its bias (if any) in the compute dtype.</summary>
    public Linear LoadLinear(string weight, string? bias = null) =>
        new(Load(weight, placement.WeightDType), bias is null ? null : Load(bias));

    /// <summary>A fused linear layer: weights (and biases) of several projections concatenated along the output dim.</summary>
    public Linear LoadLinearConcatenated(string[] weights, string[]? biases = null) =>
        new(LoadConcatenated(placement.WeightDType, weights), biases is null ? null : LoadConcatenated(placement.DType, biases));

    /// <summary>A GPT-2 Conv1D layer, its weight stored (in, out), as an nn.Linear-style (out, in) layer.</summary>
    public Linear LoadLinearTransposed(string weight, string bias)
    {
        using var stored = Load(weight, placement.DType);
        using var transposed = stored.t();
        return new Linear(transposed.to_type(placement.WeightDType).contiguous(), Load(bias));
    }

    /// <summary>A tied LM head's projection: the embedding matrix itself, or its copy in the weights' dtype.</summary>
    public (Linear Projection, bool Owned) TiedProjection(Tensor embedding) =>
        embedding.dtype == placement.WeightDType
            ? (new Linear(embedding, null), false)
            : (new Linear(embedding.to_type(placement.WeightDType), null), true);

    private Tensor Load(string name, ScalarType dtype)
    {
        var spec = _expected.TryGetValue(name, out var s) ? s : throw new InvalidOperationException($"\"{name}\" is not an expected weight.");
        return checkpoint.Load(name, spec.Shape, dtype, placement.Device);
    }

    /// <summary>Reads several expected tensors and concatenates them along dim 0 (fused projections).</summary>
    private Tensor LoadConcatenated(ScalarType dtype, string[] names)
    {
        var parts = names.Select(n => Load(n, dtype)).ToArray();
        try
        {
            return TorchSharp.torch.cat(parts, 0);
        }
        finally
        {
            foreach (var part in parts)
            {
                part.Dispose();
            }
        }
    }
}
