using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>
/// How a weight matrix stores its elements, as a type parameter so the JIT compiles one specialised loop per
/// format (the calls below inline and the unused branches fold away).
/// </summary>
internal interface IWeightFormat
{
    /// <summary>Bytes per element.</summary>
    static abstract int ElementSize { get; }

    /// <summary>16 consecutive weights starting at <paramref name="p"/>, widened to fp32.</summary>
    static abstract unsafe Vector512<float> Load512(byte* p);

    /// <summary>8 consecutive weights starting at <paramref name="p"/>, widened to fp32.</summary>
    static abstract unsafe Vector256<float> Load256(byte* p);

    /// <summary>One weight, widened to fp32.</summary>
    static abstract unsafe float LoadScalar(byte* p);
}

/// <summary>IEEE fp32 weights, read as they are.</summary>
internal readonly struct Float32Weights : IWeightFormat
{
    public static int ElementSize => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector512<float> Load512(byte* p) => Vector512.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<float> Load256(byte* p) => Vector256.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float LoadScalar(byte* p) => *(float*)p;
}

/// <summary>
/// bfloat16 weights (the upper 16 bits of an fp32): widened exactly by zero-extending to 32 bits and shifting
/// left 16. .NET 10 has no AVX512-BF16 intrinsics, and the widening is exact, so the products are fp32's.
/// </summary>
internal readonly struct BFloat16Weights : IWeightFormat
{
    public static int ElementSize => 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector512<float> Load512(byte* p)
    {
        var halves = Vector256.Load((ushort*)p);                          // 16 × bf16
        var widened = Avx512F.ConvertToVector512UInt32(halves);           // 16 × uint32, zero-extended
        return Avx512F.ShiftLeftLogical(widened, 16).AsSingle();          // 16 × fp32
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe Vector256<float> Load256(byte* p)
    {
        var halves = Vector128.Load((ushort*)p);                          // 8 × bf16
        var widened = Avx2.ConvertToVector256Int32(halves).AsUInt32();    // 8 × uint32, zero-extended
        return Avx2.ShiftLeftLogical(widened, 16).AsSingle();             // 8 × fp32
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float LoadScalar(byte* p) => BitConverter.Int32BitsToSingle(*(ushort*)p << 16);

    /// <summary>
    /// <paramref name="value"/> rounded to bf16 bits: to nearest, ties to even, NaN to a quiet NaN, as libtorch's
    /// conversion does (c10::BFloat16's round_to_nearest_even), so a cache written here and one written by libtorch
    /// hold the same bits.
    /// </summary>
    public static ushort Round(float value)
    {
        if (float.IsNaN(value))
        {
            return 0x7FC0;
        }
        var bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }
}
