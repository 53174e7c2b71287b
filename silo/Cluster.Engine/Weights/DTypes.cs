using static TorchSharp.torch;

namespace Cluster.Engine.Weights;

/// <summary>The safetensors dtypes the engine reads as weights, and their torch equivalents.</summary>
public static class DTypes
{
    public static int? ElementSize(string safetensorsDType) => safetensorsDType switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" or "F8_E4M3" or "F8_E5M2" => 1,
        _ => null,
    };

    /// <summary>The torch dtype for a floating-point weight, or null for dtypes weights may not have.</summary>
    public static ScalarType? WeightScalarType(string safetensorsDType) => safetensorsDType switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        _ => null,
    };
}
