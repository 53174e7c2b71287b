using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Cluster.Kernels;

/// <summary>
/// Rotary position embedding in Hugging Face's rotate-half layout, in place on fp32 host rows: for each head of a token
/// at position p, with c = cos[p], s = sin[p] (tables of (positions, headDim), the two halves equal),
/// (x1, x2) ← (x1·c − x2·s, x2·c + x1·s). One call replaces the index_select, narrow, neg, cat, mul, mul and add
/// libtorch runs for q and again for k in every layer. Products and sums are separate roundings, no fused
/// multiply-add, as libtorch's separate mul and add kernels compute them, so the result is the same to the bit.
/// </summary>
public static unsafe class RotaryKernel
{
    /// <param name="x">(rows, heads, headDim) fp32: each row's heads packed, rows <paramref name="rowStride"/> floats apart.</param>
    /// <param name="positions">Each row's position.</param>
    /// <param name="cos">(tablePositions, headDim) fp32, contiguous.</param>
    /// <param name="sin">(tablePositions, headDim) fp32, contiguous.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    public static void RotateInPlace(nint x, long rowStride, int heads, int headDim, ReadOnlySpan<int> positions, nint cos, nint sin, int tablePositions)
    {
        if (headDim < 2 || headDim % 2 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "The rotary head dimension must be even and at least 2.");
        }
        var half = headDim / 2;
        for (var r = 0; r < positions.Length; r++)
        {
            var position = positions[r];
            if ((uint)position >= (uint)tablePositions)
            {
                throw new ArgumentOutOfRangeException(nameof(positions), position, $"Row {r} is at position {position}, outside the rotary tables' {tablePositions} positions.");
            }
            var c = (float*)cos + (long)position * headDim;
            var s = (float*)sin + (long)position * headDim;
            for (var h = 0; h < heads; h++)
            {
                var x1 = (float*)x + r * rowStride + (long)h * headDim;
                var x2 = x1 + half;
                var i = 0;
                if (Vector512.IsHardwareAccelerated)
                {
                    for (; i <= half - Vector512<float>.Count; i += Vector512<float>.Count)
                    {
                        var (a, b) = (Vector512.Load(x1 + i), Vector512.Load(x2 + i));
                        var (ci, si) = (Vector512.Load(c + i), Vector512.Load(s + i));
                        var (cj, sj) = (Vector512.Load(c + half + i), Vector512.Load(s + half + i));
                        (a * ci + (-b) * si).Store(x1 + i);
                        (b * cj + a * sj).Store(x2 + i);
                    }
                }
                for (; i < half; i++)
                {
                    var (a, b) = (x1[i], x2[i]);
                    x1[i] = a * c[i] + (-b) * s[i];
                    x2[i] = b * c[half + i] + a * s[half + i];
                }
            }
        }
    }
}
