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
    Q8_0 = 8,
    BF16 = 30,
}

/// <summary>The precision the converter stores the 2-D weight matrices in; norm vectors always stay fp32, as llama.cpp's converter keeps them.</summary>
public enum GgufWeightType
{
    F32,
    F16,
    BF16,

    /// <summary>llama.cpp's Q8_0: blocks of 32 weights, an fp16 scale and 32 int8 each (our int8 weights' format).</summary>
    Q8_0,
}

public static class GgufWeightTypes
{
    public static GgmlType ToGgml(this GgufWeightType t) => t switch
    {
        GgufWeightType.F32 => GgmlType.F32,
        GgufWeightType.F16 => GgmlType.F16,
        GgufWeightType.BF16 => GgmlType.BF16,
        GgufWeightType.Q8_0 => GgmlType.Q8_0,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "Unknown GGUF weight type."),
    };

    /// <summary>general.file_type: llama.cpp's LLAMA_FTYPE (0 all fp32, 1 mostly f16, 7 mostly q8_0, 32 mostly bf16).</summary>
    public static uint FileType(this GgufWeightType t) => t switch
    {
        GgufWeightType.F32 => 0,
        GgufWeightType.F16 => 1,
        GgufWeightType.BF16 => 32,
        GgufWeightType.Q8_0 => 7,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "Unknown GGUF weight type."),
    };

    /// <summary>Elements per Q8_0 block; a Q8_0 tensor's rows are whole blocks.</summary>
    public const int Q8BlockSize = 32;

    /// <summary>Bytes a weight takes on average: 4, 2, or Q8_0's 34 per 32.</summary>
    public static double BytesPerWeight(this GgmlType t) => t switch
    {
        GgmlType.F32 => 4,
        GgmlType.Q8_0 => 34.0 / Q8BlockSize,
        _ => 2,
    };

    /// <summary>Bytes of <paramref name="elements"/> elements of type <paramref name="t"/> (whole Q8_0 blocks).</summary>
    public static long ByteCount(this GgmlType t, long elements) => t switch
    {
        GgmlType.F32 => 4 * elements,
        GgmlType.Q8_0 => elements / Q8BlockSize * 34,
        _ => 2 * elements,
    };

    public static GgufWeightType Parse(string text) => text.ToLowerInvariant() switch
    {
        "f32" or "fp32" or "float32" => GgufWeightType.F32,
        "f16" or "fp16" or "float16" => GgufWeightType.F16,
        "bf16" or "bfloat16" => GgufWeightType.BF16,
        "q8_0" or "int8" => GgufWeightType.Q8_0,
        _ => throw new ArgumentException($"GGUF weight type \"{text}\" is not one of f32, f16, bf16, q8_0."),
    };
}
