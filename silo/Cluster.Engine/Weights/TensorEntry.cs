namespace Cluster.Engine.Weights;

/// <summary>One tensor listed in a safetensors header: where its bytes are, their dtype and shape.</summary>
/// <param name="FilePath">The .safetensors file holding it.</param>
/// <param name="DType">The safetensors dtype code (F32, F16, BF16, ...).</param>
/// <param name="FileOffset">Absolute offset of the first byte in the file.</param>
public sealed record TensorEntry(string Name, string FilePath, string DType, long[] Shape, long FileOffset, long ByteLength)
{
    public string ShapeText => ShapeToText(Shape);

    public static string ShapeToText(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
