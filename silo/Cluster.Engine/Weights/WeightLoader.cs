using Cluster.Engine.Configuration;
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

    /// <summary>
    /// A weight matrix, (out, in), in the weights' dtype (which may differ from the compute dtype: bf16 weights), or
    /// in the compute dtype when the weights become int8 blocks (the module quantizes it).
    /// </summary>
    public Tensor LoadMatrix(string name) => Load(name, MatrixDType);

    /// <summary>Several weight matrices concatenated along the output dim (fused projections), as <see cref="LoadMatrix"/>.</summary>
    public Tensor LoadMatrices(string[] names) => LoadConcatenated(MatrixDType, names);

    /// <summary>Several vectors (biases) concatenated, in the compute dtype.</summary>
    public Tensor LoadConcatenated(string[] names) => LoadConcatenated(placement.DType, names);

    /// <summary>A matrix stored (in, out), as GPT-2's Conv1D stores it, returned (out, in) in the weights' dtype.</summary>
    public Tensor LoadTransposedMatrix(string name)
    {
        using var stored = Load(name, placement.DType);
        using var transposed = stored.t();
        return transposed.to_type(MatrixDType).contiguous();
    }

    /// <summary>The dtype weight matrices are kept in; <see cref="ScalarType.Int8"/> for int8 blocks.</summary>
    public ScalarType WeightDType => placement.WeightDType;

    /// <summary>The dtype matrices are read in: the weights' own, or the compute dtype int8 blocks are quantized from.</summary>
    private ScalarType MatrixDType => placement.Int8WeightBlocks ? placement.DType : placement.WeightDType;

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
