using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Tests;

internal static class TensorAssert
{
    /// <summary>Fails with the max-abs-diff and where it occurred when two tensors differ by more than <paramref name="tolerance"/>.</summary>
    public static void Close(Tensor expected, Tensor actual, double tolerance, string what)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"{what}: shape [{string.Join(", ", actual.shape)}], expected [{string.Join(", ", expected.shape)}]");
        using var diff = (expected.to_type(ScalarType.Float64) - actual.to_type(ScalarType.Float64)).abs();
        var max = diff.max().item<double>();
        var at = diff.argmax().item<long>();
        Assert.True(max <= tolerance, $"{what}: max-abs-diff {max:E3} at flat index {at} exceeds {tolerance:E1}");
    }

    public static float[] Row(Tensor t, long row) => t[row].to_type(ScalarType.Float32).data<float>().ToArray();

    public static int[] ArgMaxPerRow(Tensor logits) => logits.argmax(-1).data<long>().ToArray().Select(v => (int)v).ToArray();
}
