using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>
/// The AVX-512 tile for bf16 weights, 32 at a time. One 64-byte load holds 16 pairs of bf16, (even, odd) in each
/// 32-bit lane: shifting the lane left 16 gives the even weight as fp32, clearing its low half gives the odd one, so
/// two simple instructions widen 32 weights where zero-extending (a shuffle) and shifting take four. x is read in the
/// matching order, deinterleaved once per call (<see cref="Deinterleave"/>). Same products as
/// <see cref="LinearTiles.Tile512"/>, summed in another order: within fp32 rounding of it.
/// </summary>
internal static unsafe class BFloat16PairTiles
{
    /// <summary>Weights per step: 16 pairs, one 512-bit load.</summary>
    public const int Block = 32;

    /// <summary>
    /// How far ahead of each W row the loop asks for the next cache lines. Widening and twice the multiply-adds per
    /// byte leave one core too few loads in flight to stream bf16 at the memory's rate (about 10 GB/s a core, where
    /// fp32 reaches twice that); prefetching 4 KB ahead took a core from 10 to 12 GB/s on the LM head's shape. The
    /// fp32 tile streams without it, and was slower with it (docs/PERFORMANCE.md, 6 December evening).
    /// </summary>
    private const int PrefetchBytes = 4096;

    /// <summary>
    /// x (rows, k) into <paramref name="pairs"/> (rows, k): per block of 32, its 16 even elements then its 16 odd;
    /// the tail past the last full block as it is.
    /// </summary>
    public static void Deinterleave(float* x, int rows, int k, float* pairs)
    {
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var odd = Vector512.Create(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        for (var r = 0; r < rows; r++)
        {
            float* source = x + (long)r * k, target = pairs + (long)r * k;
            var b = 0;
            for (; b <= k - Block; b += Block)
            {
                var low = Vector512.Load(source + b);       // x[b .. b + 16)
                var high = Vector512.Load(source + b + 16); // x[b + 16 .. b + 32)
                Avx512F.PermuteVar16x32x2(low, even, high).Store(target + b);
                Avx512F.PermuteVar16x32x2(low, odd, high).Store(target + b + 16);
            }
            for (; b < k; b++)
            {
                target[b] = source[b];
            }
        }
    }

    /// <param name="pairs">The tile's first x row, deinterleaved; rows are <paramref name="k"/> floats apart.</param>
    /// <param name="x">The same row as it is (for the tail of K past the last full block).</param>
    /// <param name="w">First W row of the tile, bf16; rows are <paramref name="k"/> elements apart.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile<TM, TN>(float* pairs, float* x, byte* w, int k, float* y, int ldy, float* bias)
        where TM : IRowCount where TN : IRowCount
    {
        int m = TM.Count, n = TN.Count;
        long ldw = (long)k * 2;
        byte* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw;
        float* p0 = pairs, p1 = pairs + k, p2 = pairs + 2 * k, p3 = pairs + 3 * k;
        var oddHalf = Vector512.Create(0xFFFF0000u);
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        var kk = 0;
        for (; kk <= k - Block; kk += Block)
        {
            var offset = (long)kk * 2;
            Sse.Prefetch0(w0 + offset + PrefetchBytes);
            if (n > 1) Sse.Prefetch0(w1 + offset + PrefetchBytes);
            if (n > 2) Sse.Prefetch0(w2 + offset + PrefetchBytes);
            if (n > 3) Sse.Prefetch0(w3 + offset + PrefetchBytes);
            var d0 = Vector512.Load((uint*)(w0 + offset));
            var d1 = n > 1 ? Vector512.Load((uint*)(w1 + offset)) : default;
            var d2 = n > 2 ? Vector512.Load((uint*)(w2 + offset)) : default;
            var d3 = n > 3 ? Vector512.Load((uint*)(w3 + offset)) : default;
            // Even weights first (their x in the block's first 16), then odd (the next 16).
            var e0 = Avx512F.ShiftLeftLogical(d0, 16).AsSingle();
            var e1 = n > 1 ? Avx512F.ShiftLeftLogical(d1, 16).AsSingle() : default;
            var e2 = n > 2 ? Avx512F.ShiftLeftLogical(d2, 16).AsSingle() : default;
            var e3 = n > 3 ? Avx512F.ShiftLeftLogical(d3, 16).AsSingle() : default;
            Row(p0 + kk, e0, e1, e2, e3, n, ref a00, ref a01, ref a02, ref a03);
            if (m > 1) Row(p1 + kk, e0, e1, e2, e3, n, ref a10, ref a11, ref a12, ref a13);
            if (m > 2) Row(p2 + kk, e0, e1, e2, e3, n, ref a20, ref a21, ref a22, ref a23);
            if (m > 3) Row(p3 + kk, e0, e1, e2, e3, n, ref a30, ref a31, ref a32, ref a33);
            var o0 = (d0 & oddHalf).AsSingle();
            var o1 = n > 1 ? (d1 & oddHalf).AsSingle() : default;
            var o2 = n > 2 ? (d2 & oddHalf).AsSingle() : default;
            var o3 = n > 3 ? (d3 & oddHalf).AsSingle() : default;
            Row(p0 + kk + 16, o0, o1, o2, o3, n, ref a00, ref a01, ref a02, ref a03);
            if (m > 1) Row(p1 + kk + 16, o0, o1, o2, o3, n, ref a10, ref a11, ref a12, ref a13);
            if (m > 2) Row(p2 + kk + 16, o0, o1, o2, o3, n, ref a20, ref a21, ref a22, ref a23);
            if (m > 3) Row(p3 + kk + 16, o0, o1, o2, o3, n, ref a30, ref a31, ref a32, ref a33);
        }
        LinearTiles.StoreTile<BFloat16Weights, TM, TN>(x, w, k, kk, y, ldy, bias,
            a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33);
    }

    /// <summary>
    /// One W row against one x row (a batch-1 decode), the row as one stream, 64 weights a step over four accumulators,
    /// asking for W <see cref="LinearTiles.RowDotPrefetchBytes"/> ahead into L2 (the 4-row tile's prefetch into L1
    /// reached 12-15 GB/s where this loop without a prefetch reached 19-21 on 2 cores of the dev VM, docs/PERFORMANCE.md,
    /// "bf16 at batch 1, one W row at a time"; the L2 request took it to 24-32).
    /// </summary>
    /// <param name="pairs">x deinterleaved (<see cref="Deinterleave"/>); its tail past the last full block is x as it is.</param>
    /// <param name="w">The W row, bf16 bits.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float RowDot(float* pairs, byte* w, int k)
    {
        var oddHalf = Vector512.Create(0xFFFF0000u);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var kk = 0;
        for (; kk <= k - 2 * Block; kk += 2 * Block)
        {
            Sse.Prefetch1(w + 2L * kk + LinearTiles.RowDotPrefetchBytes);      // this step's 2 lines, 6 KB further on
            Sse.Prefetch1(w + 2L * kk + LinearTiles.RowDotPrefetchBytes + 64);
            var d0 = Vector512.Load((uint*)(w + 2L * kk));          // weights kk .. kk + 32, as (even, odd) pairs
            var d1 = Vector512.Load((uint*)(w + 2L * kk + 64));     // weights kk + 32 .. kk + 64
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(pairs + kk), Avx512F.ShiftLeftLogical(d0, 16).AsSingle(), a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Load(pairs + kk + 16), (d0 & oddHalf).AsSingle(), a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Load(pairs + kk + 32), Avx512F.ShiftLeftLogical(d1, 16).AsSingle(), a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Load(pairs + kk + 48), (d1 & oddHalf).AsSingle(), a3);
        }
        for (; kk <= k - Block; kk += Block)
        {
            var d0 = Vector512.Load((uint*)(w + 2L * kk));
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(pairs + kk), Avx512F.ShiftLeftLogical(d0, 16).AsSingle(), a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Load(pairs + kk + 16), (d0 & oddHalf).AsSingle(), a1);
        }
        var sum = Vector512.Sum(a0 + a1 + (a2 + a3));
        for (; kk < k; kk++)
        {
            sum = MathF.FusedMultiplyAdd(pairs[kk], BFloat16Weights.LoadScalar(w + 2L * kk), sum);
        }
        return sum;
    }

    /// <summary>One x row's 16 lanes against up to four W vectors, into that row's accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row(float* x, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3, int n,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
    {
        var u = Vector512.Load(x);
        a0 = Vector512.FusedMultiplyAdd(u, v0, a0);
        if (n > 1) a1 = Vector512.FusedMultiplyAdd(u, v1, a1);
        if (n > 2) a2 = Vector512.FusedMultiplyAdd(u, v2, a2);
        if (n > 3) a3 = Vector512.FusedMultiplyAdd(u, v3, a3);
    }
}
