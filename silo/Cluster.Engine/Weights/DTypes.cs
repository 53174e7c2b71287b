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

    /// <summary>The safetensors name of a floating-point torch dtype the engine writes.</summary>
    public static string SafetensorsName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        _ => throw new ArgumentException($"Weights are written as float32, float16 or bfloat16, not {dtype}.", nameof(dtype)),
    };

    /// <summary>The <c>torch_dtype</c> spelling of config.json.</summary>
    public static string ToConfigName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "float32",
        ScalarType.Float16 => "float16",
        ScalarType.BFloat16 => "bfloat16",
        _ => throw new ArgumentException($"Weights are written as float32, float16 or bfloat16, not {dtype}.", nameof(dtype)),
    };
}
