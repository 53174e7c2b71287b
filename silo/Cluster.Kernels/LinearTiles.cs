using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>
/// One register tile of y = x·Wᵀ: TM rows of x (≤ 4) against TN rows of W (≤ 4), all K. Each W vector loaded
/// is used by every x row and each x vector by every W row, so a 4×4 tile does 16 multiply-adds per 8 loads;
/// the TM·TN accumulators stay in registers (16 + 4 + 1 of AVX-512's 32) and are summed horizontally once, at
/// the end. Elements of K past the last full vector are added one by one.
/// </summary>
internal static unsafe class LinearTiles
{

    /// <param name="x">First x row of the tile; rows are <paramref name="k"/> floats apart.</param>
    /// <param name="w">First W row of the tile; rows are <paramref name="k"/> elements apart.</param>
    /// <param name="y">y[first x row, first W row]; rows are <paramref name="ldy"/> floats apart.</param>
    /// <param name="bias">bias[first W row], or null.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile512<TW, TM, TN>(float* x, byte* w, int k, float* y, int ldy, float* bias)
        where TW : IWeightFormat where TM : IRowCount where TN : IRowCount
    {
        int m = TM.Count, n = TN.Count, es = TW.ElementSize;
        long ldw = (long)k * es;
        byte* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw;
        float* x0 = x, x1 = x + k, x2 = x + 2 * k, x3 = x + 3 * k;
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        var kk = 0;
        for (; kk <= k - 16; kk += 16)
        {
            var offset = (long)kk * es;
            var v0 = TW.Load512(w0 + offset);
            var v1 = n > 1 ? TW.Load512(w1 + offset) : default;
            var v2 = n > 2 ? TW.Load512(w2 + offset) : default;
            var v3 = n > 3 ? TW.Load512(w3 + offset) : default;
            var u = Vector512.Load(x0 + kk);
            a00 = Vector512.FusedMultiplyAdd(u, v0, a00);
            if (n > 1) a01 = Vector512.FusedMultiplyAdd(u, v1, a01);
            if (n > 2) a02 = Vector512.FusedMultiplyAdd(u, v2, a02);
            if (n > 3) a03 = Vector512.FusedMultiplyAdd(u, v3, a03);
            if (m > 1)
            {
                u = Vector512.Load(x1 + kk);
                a10 = Vector512.FusedMultiplyAdd(u, v0, a10);
                if (n > 1) a11 = Vector512.FusedMultiplyAdd(u, v1, a11);
                if (n > 2) a12 = Vector512.FusedMultiplyAdd(u, v2, a12);
                if (n > 3) a13 = Vector512.FusedMultiplyAdd(u, v3, a13);
            }
            if (m > 2)
            {
                u = Vector512.Load(x2 + kk);
                a20 = Vector512.FusedMultiplyAdd(u, v0, a20);
                if (n > 1) a21 = Vector512.FusedMultiplyAdd(u, v1, a21);
                if (n > 2) a22 = Vector512.FusedMultiplyAdd(u, v2, a22);
                if (n > 3) a23 = Vector512.FusedMultiplyAdd(u, v3, a23);
            }
            if (m > 3)
            {
                u = Vector512.Load(x3 + kk);
                a30 = Vector512.FusedMultiplyAdd(u, v0, a30);
                if (n > 1) a31 = Vector512.FusedMultiplyAdd(u, v1, a31);
                if (n > 2) a32 = Vector512.FusedMultiplyAdd(u, v2, a32);
                if (n > 3) a33 = Vector512.FusedMultiplyAdd(u, v3, a33);
            }
        }
        StoreTile<TW, TM, TN>(x, w, k, kk, y, ldy, bias, a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33);
    }

    /// <summary>
    /// Ends a 512-bit tile: each accumulator summed horizontally, the elements of K from <paramref name="from"/> on
    /// added one by one, the bias, stored in y.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreTile<TW, TM, TN>(float* x, byte* w, int k, int from, float* y, int ldy, float* bias,
        Vector512<float> a00, Vector512<float> a01, Vector512<float> a02, Vector512<float> a03,
        Vector512<float> a10, Vector512<float> a11, Vector512<float> a12, Vector512<float> a13,
        Vector512<float> a20, Vector512<float> a21, Vector512<float> a22, Vector512<float> a23,
        Vector512<float> a30, Vector512<float> a31, Vector512<float> a32, Vector512<float> a33)
        where TW : IWeightFormat where TM : IRowCount where TN : IRowCount
    {
        int m = TM.Count, n = TN.Count;
        long ldw = (long)k * TW.ElementSize;
        byte* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw;
        float* x0 = x, x1 = x + k, x2 = x + 2 * k, x3 = x + 3 * k;
        var kk = from;
        Store<TW>(y, bias, 0, x0, w0, kk, k, Vector512.Sum(a00));
        if (n > 1) Store<TW>(y + 1, bias, 1, x0, w1, kk, k, Vector512.Sum(a01));
        if (n > 2) Store<TW>(y + 2, bias, 2, x0, w2, kk, k, Vector512.Sum(a02));
        if (n > 3) Store<TW>(y + 3, bias, 3, x0, w3, kk, k, Vector512.Sum(a03));
        if (m > 1)
        {
            var r = y + ldy;
            Store<TW>(r, bias, 0, x1, w0, kk, k, Vector512.Sum(a10));
            if (n > 1) Store<TW>(r + 1, bias, 1, x1, w1, kk, k, Vector512.Sum(a11));
            if (n > 2) Store<TW>(r + 2, bias, 2, x1, w2, kk, k, Vector512.Sum(a12));
            if (n > 3) Store<TW>(r + 3, bias, 3, x1, w3, kk, k, Vector512.Sum(a13));
        }
        if (m > 2)
        {
            var r = y + 2 * ldy;
            Store<TW>(r, bias, 0, x2, w0, kk, k, Vector512.Sum(a20));
            if (n > 1) Store<TW>(r + 1, bias, 1, x2, w1, kk, k, Vector512.Sum(a21));
            if (n > 2) Store<TW>(r + 2, bias, 2, x2, w2, kk, k, Vector512.Sum(a22));
            if (n > 3) Store<TW>(r + 3, bias, 3, x2, w3, kk, k, Vector512.Sum(a23));
        }
        if (m > 3)
        {
            var r = y + 3 * ldy;
            Store<TW>(r, bias, 0, x3, w0, kk, k, Vector512.Sum(a30));
            if (n > 1) Store<TW>(r + 1, bias, 1, x3, w1, kk, k, Vector512.Sum(a31));
            if (n > 2) Store<TW>(r + 2, bias, 2, x3, w2, kk, k, Vector512.Sum(a32));
            if (n > 3) Store<TW>(r + 3, bias, 3, x3, w3, kk, k, Vector512.Sum(a33));
        }
    }

    /// <summary>
    /// How far ahead of a one-row dot product (<see cref="RowDot512"/>, <see cref="BFloat16PairTiles.RowDot"/>) the
    /// loop asks for W into L2: a few rows of W further on, which the same thread reads next (the rows of a part are
    /// contiguous). Measured on 160,000 × 768 and 60,000 × 2048 matrices, 2 threads, alternating: fp32 17-19 against
    /// 19-24 ms, bf16 8-10 against 11-12 ms; 3 KB ahead was between, into L1 slower (docs/PERFORMANCE.md, "fp32 at 8
    /// rows: ask for the next tile").
    /// </summary>
    internal const int RowDotPrefetchBytes = 6144;

    /// <summary>One fp32 W row against one x row: 64 elements a step over four accumulators, one stream of W.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float RowDot512(float* w, float* x, int k)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var kk = 0;
        for (; kk <= k - 64; kk += 64)
        {
            var ahead = (byte*)(w + kk) + RowDotPrefetchBytes; // this step's 4 lines, 6 KB further on
            Sse.Prefetch1(ahead);
            Sse.Prefetch1(ahead + 64);
            Sse.Prefetch1(ahead + 128);
            Sse.Prefetch1(ahead + 192);
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + kk), Vector512.Load(w + kk), a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.Load(x + kk + 16), Vector512.Load(w + kk + 16), a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.Load(x + kk + 32), Vector512.Load(w + kk + 32), a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.Load(x + kk + 48), Vector512.Load(w + kk + 48), a3);
        }
        for (; kk <= k - 16; kk += 16)
        {
            a0 = Vector512.FusedMultiplyAdd(Vector512.Load(x + kk), Vector512.Load(w + kk), a0);
        }
        var sum = Vector512.Sum(a0 + a1 + (a2 + a3));
        for (; kk < k; kk++)
        {
            sum = MathF.FusedMultiplyAdd(x[kk], w[kk], sum);
        }
        return sum;
    }

    /// <summary>The same tile with AVX2's 8 lanes, for CPUs without AVX-512.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tile256<TW, TM, TN>(float* x, byte* w, int k, float* y, int ldy, float* bias)
        where TW : IWeightFormat where TM : IRowCount where TN : IRowCount
    {
        int m = TM.Count, n = TN.Count, es = TW.ElementSize;
        long ldw = (long)k * es;
        byte* w0 = w, w1 = w + ldw, w2 = w + 2 * ldw, w3 = w + 3 * ldw;
        float* x0 = x, x1 = x + k, x2 = x + 2 * k, x3 = x + 3 * k;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector256<float> a30 = default, a31 = default, a32 = default, a33 = default;
        var kk = 0;
        for (; kk <= k - 8; kk += 8)
        {
            var offset = (long)kk * es;
            var v0 = TW.Load256(w0 + offset);
            var v1 = n > 1 ? TW.Load256(w1 + offset) : default;
            var v2 = n > 2 ? TW.Load256(w2 + offset) : default;
            var v3 = n > 3 ? TW.Load256(w3 + offset) : default;
            var u = Vector256.Load(x0 + kk);
            a00 = Vector256.FusedMultiplyAdd(u, v0, a00);
            if (n > 1) a01 = Vector256.FusedMultiplyAdd(u, v1, a01);
            if (n > 2) a02 = Vector256.FusedMultiplyAdd(u, v2, a02);
            if (n > 3) a03 = Vector256.FusedMultiplyAdd(u, v3, a03);
            if (m > 1)
            {
                u = Vector256.Load(x1 + kk);
                a10 = Vector256.FusedMultiplyAdd(u, v0, a10);
                if (n > 1) a11 = Vector256.FusedMultiplyAdd(u, v1, a11);
                if (n > 2) a12 = Vector256.FusedMultiplyAdd(u, v2, a12);
                if (n > 3) a13 = Vector256.FusedMultiplyAdd(u, v3, a13);
            }
            if (m > 2)
            {
                u = Vector256.Load(x2 + kk);
                a20 = Vector256.FusedMultiplyAdd(u, v0, a20);
                if (n > 1) a21 = Vector256.FusedMultiplyAdd(u, v1, a21);
                if (n > 2) a22 = Vector256.FusedMultiplyAdd(u, v2, a22);
                if (n > 3) a23 = Vector256.FusedMultiplyAdd(u, v3, a23);
            }
            if (m > 3)
            {
                u = Vector256.Load(x3 + kk);
                a30 = Vector256.FusedMultiplyAdd(u, v0, a30);
                if (n > 1) a31 = Vector256.FusedMultiplyAdd(u, v1, a31);
                if (n > 2) a32 = Vector256.FusedMultiplyAdd(u, v2, a32);
                if (n > 3) a33 = Vector256.FusedMultiplyAdd(u, v3, a33);
            }
        }
        Store<TW>(y, bias, 0, x0, w0, kk, k, Vector256.Sum(a00));
        if (n > 1) Store<TW>(y + 1, bias, 1, x0, w1, kk, k, Vector256.Sum(a01));
        if (n > 2) Store<TW>(y + 2, bias, 2, x0, w2, kk, k, Vector256.Sum(a02));
        if (n > 3) Store<TW>(y + 3, bias, 3, x0, w3, kk, k, Vector256.Sum(a03));
        if (m > 1)
        {
            var r = y + ldy;
            Store<TW>(r, bias, 0, x1, w0, kk, k, Vector256.Sum(a10));
            if (n > 1) Store<TW>(r + 1, bias, 1, x1, w1, kk, k, Vector256.Sum(a11));
            if (n > 2) Store<TW>(r + 2, bias, 2, x1, w2, kk, k, Vector256.Sum(a12));
            if (n > 3) Store<TW>(r + 3, bias, 3, x1, w3, kk, k, Vector256.Sum(a13));
        }
        if (m > 2)
        {
            var r = y + 2 * ldy;
            Store<TW>(r, bias, 0, x2, w0, kk, k, Vector256.Sum(a20));
            if (n > 1) Store<TW>(r + 1, bias, 1, x2, w1, kk, k, Vector256.Sum(a21));
            if (n > 2) Store<TW>(r + 2, bias, 2, x2, w2, kk, k, Vector256.Sum(a22));
            if (n > 3) Store<TW>(r + 3, bias, 3, x2, w3, kk, k, Vector256.Sum(a23));
        }
        if (m > 3)
        {
            var r = y + 3 * ldy;
            Store<TW>(r, bias, 0, x3, w0, kk, k, Vector256.Sum(a30));
            if (n > 1) Store<TW>(r + 1, bias, 1, x3, w1, kk, k, Vector256.Sum(a31));
            if (n > 2) Store<TW>(r + 2, bias, 2, x3, w2, kk, k, Vector256.Sum(a32));
            if (n > 3) Store<TW>(r + 3, bias, 3, x3, w3, kk, k, Vector256.Sum(a33));
        }
    }

    /// <summary>Plain C# dot products, one element at a time: the reference for the vector tiles.</summary>
    public static void TileScalar<TW>(float* x, int m, byte* w, int n, int k, float* y, int ldy, float* bias)
        where TW : IWeightFormat
    {
        var es = TW.ElementSize;
        for (var i = 0; i < m; i++)
        {
            for (var j = 0; j < n; j++)
            {
                Store<TW>(y + (long)i * ldy + j, bias, j, x + (long)i * k, w + (long)j * k * es, 0, k, 0f);
            }
        }
    }

    /// <summary>Adds the tail of K from <paramref name="from"/> one element at a time, the bias, and stores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Store<TW>(float* y, float* bias, int column, float* x, byte* w, int from, int k, float sum)
        where TW : IWeightFormat
    {
        for (var kk = from; kk < k; kk++)
        {
            sum = MathF.FusedMultiplyAdd(x[kk], TW.LoadScalar(w + (long)kk * TW.ElementSize), sum);
        }
        *y = bias == null ? sum : sum + bias[column];
    }
}
