using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>Horizontal sums of several AVX-512 accumulators at once.</summary>
internal static class HorizontalSums
{
    /// <summary>
    /// (Σ a0, Σ a1, Σ a2, Σ a3): one combined reduction (unpack, add, shuffle, add, then the four 128-bit lanes) instead
    /// of four separate <see cref="Vector512.Sum{T}(Vector512{T})"/> calls, which cost more than the multiply-adds
    /// when a tile ends after few of them (a head's 4 score dot products of 64 elements). Tried at the end of the 8 × 3
    /// linear tile too (24 sums in 6 reductions): no change beyond noise in the kernel sweep or the step profile, so
    /// that tile keeps the 4 × 4 tile's summation order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Four(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
    {
        // Per 128-bit lane: [x0+x2, y0+y2, x1+x3, y1+y3] for the pairs (a0, a1) and (a2, a3) ...
        var pair01 = Avx512F.UnpackLow(a0, a1) + Avx512F.UnpackHigh(a0, a1);
        var pair23 = Avx512F.UnpackLow(a2, a3) + Avx512F.UnpackHigh(a2, a3);
        // ... then [a0, a1, a2, a3] partial sums per lane, then the four lanes added.
        var lanes = Avx512F.Shuffle(pair01, pair23, 0x44) + Avx512F.Shuffle(pair01, pair23, 0xEE);
        var halves = lanes.GetLower() + lanes.GetUpper();
        return halves.GetLower() + halves.GetUpper();
    }
}
