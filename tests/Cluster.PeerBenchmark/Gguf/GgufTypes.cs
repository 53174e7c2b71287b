namespace Cluster.PeerBenchmark.Gguf;

/// <summary>The value types of GGUF metadata (the numbering of the GGUF spec, version 3).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>The ggml tensor types this writer produces (ggml's own numbering).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    BF16 = 30,
}

/// <summary>The precision the converter stores the 2-D weight matrices in; norm vectors always stay fp32, as llama.cpp's converter keeps them.</summary>
public enum GgufWeightType
{
    F32,
    F16,
    BF16,
}

public static class GgufWeightTypes
{
    public static GgmlType ToGgml(this GgufWeightType t) => t switch
    {
        GgufWeightType.F32 => GgmlType.F32,
        GgufWeightType.F16 => GgmlType.F16,
        GgufWeightType.BF16 => GgmlType.BF16,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "Unknown GGUF weight type."),
    };

    /// <summary>general.file_type: llama.cpp's LLAMA_FTYPE (0 all fp32, 1 mostly f16, 32 mostly bf16).</summary>
    public static uint FileType(this GgufWeightType t) => t switch
    {
        GgufWeightType.F32 => 0,
        GgufWeightType.F16 => 1,
        GgufWeightType.BF16 => 32,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "Unknown GGUF weight type."),
    };

    public static int BytesPerElement(this GgmlType t) => t == GgmlType.F32 ? 4 : 2;

    public static GgufWeightType Parse(string text) => text.ToLowerInvariant() switch
    {
        "f32" or "fp32" or "float32" => GgufWeightType.F32,
        "f16" or "fp16" or "float16" => GgufWeightType.F16,
        "bf16" or "bfloat16" => GgufWeightType.BF16,
        _ => throw new ArgumentException($"GGUF weight type \"{text}\" is not one of f32, f16, bf16."),
    };
}
