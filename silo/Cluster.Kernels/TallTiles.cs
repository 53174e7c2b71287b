using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>
/// The AVX-512 tiles for several x rows: TM rows of x (≤ 8) against TN rows of W (≤ 3), all K; 24 accumulators +
/// 3 W vectors + 1 x vector of AVX-512's 32 registers. With 8 x rows every W row is read once per call, and while a
/// tile multiplies, it asks for the next tile's W (the same offset, TN rows further) into L2: without that request
/// the core's multiply-adds and W's memory reads took turns, and the 4×4 tile (<see cref="LinearTiles.Tile512{TW, TM, TN}"/>)
/// ran 8 x rows of fp32 weights at 14 GB/s where a plain read of W reaches 21-28 (docs/PERFORMANCE.md, "fp32 at 8
/// rows: ask for the next tile"). Each y element has one accumulator fed in K order, summed horizontally, then the K
/// tail and the bias, as in the 4×4 tiles.
/// </summary>
internal static unsafe class TallTiles
{
    /// <summary>Most W rows in a tile.</summary>
    public const int WeightRows = 3;

    /// <summary>Most x rows in a tile.</summary>
    public const int InputRows = 8;

    /// <summary>fp32 weights, 16 a step.</summary>
    /// <param name="x">First x row of the tile; rows are <paramref name="k"/> floats apart.</param>
    /// <param name="w">First W row of the tile; rows are <paramref name="k"/> floats apart.</param>
    /// <param name="y">y[first x row, first W row]; rows are <paramref name="ldy"/> floats apart.</param>
    /// <param name="bias">bias[first W row], or null.</param>
    /// <param name="prefetchNext">Whether to ask for the next tile's W (once per W tile: the first pass over x).</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Float32<TM, TN>(float* x, float* w, int k, float* y, int ldy, float* bias, bool prefetchNext)
        where TM : IRowCount where TN : IRowCount
    {
        int m = TM.Count, n = TN.Count;
        float* w0 = w, w1 = w + k, w2 = w + 2L * k;
        var ahead = (long)n * k; // the next tile's same offset, in floats
        Vector512<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a50 = default, a51 = default, a52 = default;
        Vector512<float> a60 = default, a61 = default, a62 = default, a70 = default, a71 = default, a72 = default;
        var kk = 0;
        for (; kk <= k - 16; kk += 16)
        {
            if (prefetchNext)
            {
                // One 64-byte line per W row per step: the whole next tile by the end of this one.
                Sse.Prefetch1(w0 + kk + ahead);
                if (n > 1) Sse.Prefetch1(w1 + kk + ahead);
                if (n > 2) Sse.Prefetch1(w2 + kk + ahead);
            }
            var v0 = Vector512.Load(w0 + kk);
            var v1 = n > 1 ? Vector512.Load(w1 + kk) : default;
            var v2 = n > 2 ? Vector512.Load(w2 + kk) : default;
            Row(x + kk, v0, v1, v2, n, ref a00, ref a01, ref a02);
            if (m > 1) Row(x + k + kk, v0, v1, v2, n, ref a10, ref a11, ref a12);
            if (m > 2) Row(x + 2L * k + kk, v0, v1, v2, n, ref a20, ref a21, ref a22);
            if (m > 3) Row(x + 3L * k + kk, v0, v1, v2, n, ref a30, ref a31, ref a32);
            if (m > 4) Row(x + 4L * k + kk, v0, v1, v2, n, ref a40, ref a41, ref a42);
            if (m > 5) Row(x + 5L * k + kk, v0, v1, v2, n, ref a50, ref a51, ref a52);
            if (m > 6) Row(x + 6L * k + kk, v0, v1, v2, n, ref a60, ref a61, ref a62);
            if (m > 7) Row(x + 7L * k + kk, v0, v1, v2, n, ref a70, ref a71, ref a72);
        }
        Finish<Float32Weights, TM, TN>(x, (byte*)w, k, kk, y, ldy, bias,
            a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32, a40, a41, a42, a50, a51, a52, a60, a61, a62, a70, a71, a72);
    }

    /// <summary>
    /// bf16 weights, 32 a step, widened as <see cref="BFloat16PairTiles"/> does (one 64-byte load holds 16 (even, odd)
    /// pairs: a shift gives the even weights, a mask the odd) against x deinterleaved to match. The even halves of a
    /// step go through every x row, then the odd halves, the W line loaded again from L1, so that the widened vectors
    /// of only one half need registers.
    /// </summary>
    /// <param name="pairs">The tile's first x row, deinterleaved (<see cref="BFloat16PairTiles.Deinterleave"/>); rows are <paramref name="k"/> floats apart.</param>
    /// <param name="x">The same row as it is (for the tail of K past the last full block).</param>
    /// <param name="w">First W row of the tile, bf16; rows are <paramref name="k"/> elements apart.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BFloat16<TM, TN>(float* pairs, float* x, byte* w, int k, float* y, int ldy, float* bias, bool prefetchNext)
        where TM : IRowCount where TN : IRowCount
    {
        int m = TM.Count, n = TN.Count;
        long ldw = 2L * k;
        byte* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw;
        var ahead = n * ldw; // the next tile's same offset, in bytes
        var oddHalf = Vector512.Create(0xFFFF0000u);
        Vector512<float> a00 = default, a01 = default, a02 = default, a10 = default, a11 = default, a12 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a30 = default, a31 = default, a32 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a50 = default, a51 = default, a52 = default;
        Vector512<float> a60 = default, a61 = default, a62 = default, a70 = default, a71 = default, a72 = default;
        var kk = 0;
        for (; kk <= k - BFloat16PairTiles.Block; kk += BFloat16PairTiles.Block)
        {
            var offset = 2L * kk;
            if (prefetchNext)
            {
                Sse.Prefetch1(w0 + offset + ahead);
                if (n > 1) Sse.Prefetch1(w1 + offset + ahead);
                if (n > 2) Sse.Prefetch1(w2 + offset + ahead);
            }
            // Even weights, against each row's first 16 deinterleaved x.
            var v0 = Avx512F.ShiftLeftLogical(Vector512.Load((uint*)(w0 + offset)), 16).AsSingle();
            var v1 = n > 1 ? Avx512F.ShiftLeftLogical(Vector512.Load((uint*)(w1 + offset)), 16).AsSingle() : default;
            var v2 = n > 2 ? Avx512F.ShiftLeftLogical(Vector512.Load((uint*)(w2 + offset)), 16).AsSingle() : default;
            var p = pairs + kk;
            Row(p, v0, v1, v2, n, ref a00, ref a01, ref a02);
            if (m > 1) Row(p + k, v0, v1, v2, n, ref a10, ref a11, ref a12);
            if (m > 2) Row(p + 2L * k, v0, v1, v2, n, ref a20, ref a21, ref a22);
            if (m > 3) Row(p + 3L * k, v0, v1, v2, n, ref a30, ref a31, ref a32);
            if (m > 4) Row(p + 4L * k, v0, v1, v2, n, ref a40, ref a41, ref a42);
            if (m > 5) Row(p + 5L * k, v0, v1, v2, n, ref a50, ref a51, ref a52);
            if (m > 6) Row(p + 6L * k, v0, v1, v2, n, ref a60, ref a61, ref a62);
            if (m > 7) Row(p + 7L * k, v0, v1, v2, n, ref a70, ref a71, ref a72);
            // Odd weights, against the next 16.
            v0 = (Vector512.Load((uint*)(w0 + offset)) & oddHalf).AsSingle();
            v1 = n > 1 ? (Vector512.Load((uint*)(w1 + offset)) & oddHalf).AsSingle() : default;
            v2 = n > 2 ? (Vector512.Load((uint*)(w2 + offset)) & oddHalf).AsSingle() : default;
            p += 16;
            Row(p, v0, v1, v2, n, ref a00, ref a01, ref a02);
            if (m > 1) Row(p + k, v0, v1, v2, n, ref a10, ref a11, ref a12);
            if (m > 2) Row(p + 2L * k, v0, v1, v2, n, ref a20, ref a21, ref a22);
            if (m > 3) Row(p + 3L * k, v0, v1, v2, n, ref a30, ref a31, ref a32);
            if (m > 4) Row(p + 4L * k, v0, v1, v2, n, ref a40, ref a41, ref a42);
            if (m > 5) Row(p + 5L * k, v0, v1, v2, n, ref a50, ref a51, ref a52);
            if (m > 6) Row(p + 6L * k, v0, v1, v2, n, ref a60, ref a61, ref a62);
            if (m > 7) Row(p + 7L * k, v0, v1, v2, n, ref a70, ref a71, ref a72);
        }
        Finish<BFloat16Weights, TM, TN>(x, w, k, kk, y, ldy, bias,
            a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32, a40, a41, a42, a50, a51, a52, a60, a61, a62, a70, a71, a72);
    }

    /// <summary>One x row's 16 lanes against up to three W vectors, into that row's accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Row(float* x, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, int n,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2)
    {
        var u = Vector512.Load(x);
        a0 = Vector512.FusedMultiplyAdd(u, v0, a0);
        if (n > 1) a1 = Vector512.FusedMultiplyAdd(u, v1, a1);
        if (n > 2) a2 = Vector512.FusedMultiplyAdd(u, v2, a2);
    }

    /// <summary>Ends a tile: each accumulator summed horizontally, then the elements of K from <paramref name="from"/> on, the bias, stored in y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<TW, TM, TN>(float* x, byte* w, int k, int from, float* y, int ldy, float* bias,
        Vector512<float> a00, Vector512<float> a01, Vector512<float> a02, Vector512<float> a10, Vector512<float> a11, Vector512<float> a12,
        Vector512<float> a20, Vector512<float> a21, Vector512<float> a22, Vector512<float> a30, Vector512<float> a31, Vector512<float> a32,
        Vector512<float> a40, Vector512<float> a41, Vector512<float> a42, Vector512<float> a50, Vector512<float> a51, Vector512<float> a52,
        Vector512<float> a60, Vector512<float> a61, Vector512<float> a62, Vector512<float> a70, Vector512<float> a71, Vector512<float> a72)
        where TW : IWeightFormat where TM : IRowCount where TN : IRowCount
    {
        int m = TM.Count, n = TN.Count;
        // Horizontal sums, row-major by (x row, W row); rows and columns past TM and TN stay unused.
        var sums = stackalloc float[InputRows * WeightRows];
        Sums(sums, 0, n, a00, a01, a02);
        if (m > 1) Sums(sums, 1, n, a10, a11, a12);
        if (m > 2) Sums(sums, 2, n, a20, a21, a22);
        if (m > 3) Sums(sums, 3, n, a30, a31, a32);
        if (m > 4) Sums(sums, 4, n, a40, a41, a42);
        if (m > 5) Sums(sums, 5, n, a50, a51, a52);
        if (m > 6) Sums(sums, 6, n, a60, a61, a62);
        if (m > 7) Sums(sums, 7, n, a70, a71, a72);
        var ldw = (long)k * TW.ElementSize;
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                LinearTiles.Store<TW>(y + (long)i * ldy + j, bias, j, x + (long)i * k, w + j * ldw, from, k, sums[i * WeightRows + j]);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Sums(float* sums, int row, int n, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2)
    {
        var at = sums + row * WeightRows;
        at[0] = Vector512.Sum(a0);
        if (n > 1) at[1] = Vector512.Sum(a1);
        if (n > 2) at[2] = Vector512.Sum(a2);
    }
}
