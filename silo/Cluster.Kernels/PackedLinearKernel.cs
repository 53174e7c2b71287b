using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>
/// y(M, N) = x(M, K) · W(N, K)ᵀ (+ bias(N)) in fp32 for many rows of x (a prefill chunk), on AVX-512. This is a
/// compute-bound product, where <see cref="LinearKernel"/>'s decode shapes are bound by reading W. libtorch sends
/// it to oneMKL, which on this project's AMD CPUs runs its AVX2 kernel (<c>mkl_blas_def_sgemm_kernel_0_zen</c>):
/// half of what a core with 512-bit multiply-adds does (docs/PERFORMANCE.md, "fp32 prefill through a product of our own").
/// </summary>
/// <remarks>
/// <para>The usual blocked product: W is copied, 32 of its rows at a time (a <b>panel</b>: 32 columns of y), into
/// [K][32] order, so that one depth step of the panel is two 16-lane vectors; x is copied once per call, 8 rows at a
/// time, into [K][8] order. A tile of 8 x rows × 32 y columns keeps its 16 accumulators in registers and, per depth
/// step, broadcasts each x row's value against the panel's two vectors. The panel (up to <see cref="DepthBlock"/>
/// steps: 64 KiB) stays in L2 while every tile of x streams past it; the team's threads take whole panels.</para>
/// <para>Every y element is one accumulator fed in K order, whatever M is and wherever the row sits in its tile (a
/// depth block ends by storing the sums in y and the next reloads them, which is exact), then the bias is added: a
/// row of y comes out bit for bit the same in a product of any number of rows.</para>
/// </remarks>
public static unsafe class PackedLinearKernel
{
    /// <summary>W rows in a panel: y columns in two 16-lane vectors.</summary>
    public const int PanelWidth = 32;

    /// <summary>x rows in a tile: 8 × 2 accumulators of AVX-512's 32 registers, and one broadcast.</summary>
    public const int TileRows = 8;

    /// <summary>Depth steps of a panel copied at once: 64 KiB of W, which a core's L2 keeps while x streams past.</summary>
    public const int DepthBlock = 512;

    /// <summary>
    /// How far ahead (in W elements: 4 cache lines) each of a panel's rows is asked for while the panel is copied.
    /// The copy reads 32 rows at once, more streams than the hardware prefetcher follows; with the request the 48
    /// layers of the benchmark model took 28 ms at 32 rows instead of 31, 245 instead of 274 at 512
    /// (`Cluster.Engine.Benchmarks linear-rows`, 64, 128, 256 elements and none, 7 December 2026).
    /// </summary>
    private const int PrefetchAhead = 64;

    /// <summary>Whether this CPU runs the kernel (AVX-512F); elsewhere the caller keeps libtorch's product.</summary>
    public static bool IsSupported => KernelPaths.Best == KernelPath.Vector512;

    /// <summary>y = x·Wᵀ + bias with fp32 weights.</summary>
    /// <param name="x">(rows, inFeatures), row-major.</param>
    /// <param name="weight">(outFeatures, inFeatures), row-major.</param>
    /// <param name="bias">(outFeatures), or null.</param>
    /// <param name="y">(rows, outFeatures), row-major; written, never read before it is written.</param>
    public static void Float32(float* x, int rows, int inFeatures, float* weight, int outFeatures, float* bias, float* y,
        KernelTeam? team = null)
    {
        KernelArguments.AtLeast(rows, 0, nameof(rows));
        KernelArguments.AtLeast(inFeatures, 1, nameof(inFeatures));
        KernelArguments.AtLeast(outFeatures, 1, nameof(outFeatures));
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException($"{nameof(PackedLinearKernel)} needs AVX-512F; this CPU's best kernel path is {KernelPaths.Best}.");
        }
        if (rows == 0)
        {
            return;
        }
        var tiles = (rows + TileRows - 1) / TileRows;
        // Read by every part; written here, before the team starts. This thread's, kept across calls.
        var packedX = (float*)ThreadScratch<PackedXOwner>.Rent((long)tiles * TileRows * inFeatures * sizeof(float));
        PackX(x, rows, inFeatures, packedX);
        var job = new Job { PackedX = packedX, W = weight, Bias = bias, Y = y, M = rows, N = outFeatures, K = inFeatures, Tiles = tiles };
        var runner = team ?? KernelTeam.Shared;
        var panels = (outFeatures + PanelWidth - 1) / PanelWidth;
        var parts = Math.Clamp(panels, 1, runner.Threads);
        var scratch = stackalloc byte[WorkChunks.ScratchBytes(parts)];
        job.Panels = WorkChunks.Create(scratch, panels, parts);
        runner.Run(&RunPart, &job, parts);
    }

    private struct Job
    {
        public float* PackedX; // tile t, depth k: the 8 rows' x[·, k] at PackedX[(t·K + k)·8], zeros past M
        public float* W;
        public float* Bias;
        public float* Y;
        public int M, N, K, Tiles;
        public WorkChunks Panels;
    }

    // Owners of the per-thread scratch buffers (ThreadScratch keeps one per owner type).
    private struct PackedXOwner;
    private struct PanelOwner;

    /// <summary>x (M, K) row-major into tiles of 8 rows in [K][8] order, the rows past M as zeros.</summary>
    private static void PackX(float* x, int m, int k, float* packed)
    {
        for (var t = 0; t * TileRows < m; t++)
        {
            var tile = packed + (long)t * k * TileRows;
            for (var i = 0; i < TileRows; i++)
            {
                var row = t * TileRows + i;
                if (row >= m)
                {
                    for (var kk = 0; kk < k; kk++)
                    {
                        tile[(long)kk * TileRows + i] = 0;
                    }
                    continue;
                }
                var source = x + (long)row * k;
                for (var kk = 0; kk < k; kk++)
                {
                    tile[(long)kk * TileRows + i] = source[kk];
                }
            }
        }
    }

    /// <summary>Part <paramref name="part"/>: claims panels until none is left (a late part leaves its share to the others).</summary>
    private static void RunPart(void* state, int part, int parts)
    {
        ref var job = ref *(Job*)state;
        // The panel's [depth][32] copy, then a tile's y for panels or tiles cut short by N or M.
        var panel = (float*)ThreadScratch<PanelOwner>.Rent(((long)DepthBlock * PanelWidth + TileRows * PanelWidth) * sizeof(float));
        var edge = panel + (long)DepthBlock * PanelWidth;
        var cursor = 0;
        while (job.Panels.TryClaim(part, ref cursor, out var index))
        {
            RunPanel(ref job, index * PanelWidth, panel, edge);
        }
    }

    /// <summary>y columns [n0, n0 + 32) ∩ [0, N) for every row of x, a depth block at a time.</summary>
    private static void RunPanel(ref Job job, int n0, float* panel, float* edge)
    {
        var width = Math.Min(PanelWidth, job.N - n0);
        for (var k0 = 0; k0 < job.K; k0 += DepthBlock)
        {
            var depth = Math.Min(DepthBlock, job.K - k0);
            PackPanel(job.W + (long)n0 * job.K + k0, job.K, width, depth, panel);
            var first = k0 == 0;
            var last = k0 + depth == job.K;
            for (var t = 0; t < job.Tiles; t++)
            {
                var x = job.PackedX + ((long)t * job.K + k0) * TileRows;
                var y = job.Y + (long)t * TileRows * job.N + n0;
                var rows = Math.Min(TileRows, job.M - t * TileRows);
                if (rows == TileRows && width == PanelWidth)
                {
                    Tile(x, panel, depth, y, job.N, first, last && job.Bias != null ? job.Bias + n0 : null);
                    continue;
                }
                // A tile cut short: computed whole in the edge buffer (the padding is zeros), its part of y copied back.
                if (!first)
                {
                    CopyTile(y, job.N, edge, PanelWidth, rows, width);
                }
                Tile(x, panel, depth, edge, PanelWidth, first, bias: null);
                if (last && job.Bias != null)
                {
                    for (var i = 0; i < rows; i++)
                    {
                        for (var j = 0; j < width; j++)
                        {
                            edge[i * PanelWidth + j] += job.Bias[n0 + j];
                        }
                    }
                }
                CopyTile(edge, PanelWidth, y, job.N, rows, width);
            }
        }
    }

    /// <summary>W rows [0, width) × depth [0, depth) (rows <paramref name="ldw"/> floats apart) into [depth][32], zeros past width.</summary>
    private static void PackPanel(float* w, int ldw, int width, int depth, float* panel)
    {
        // 16 depth steps of 16 W rows at a time through a register transpose (a plain copy element by element cost a
        // fifth of the multiply-adds' time), each row asked for further ahead; the depth left past the last 16, and
        // absent rows, one element at a time.
        var k = 0;
        for (; k + 16 <= depth; k += 16)
        {
            for (var j = 0; j < width; j++)
            {
                Sse.Prefetch0(w + (long)j * ldw + k + PrefetchAhead);
            }
            Transpose16(w, ldw, Math.Min(width, 16), k, panel + (long)k * PanelWidth);
            Transpose16(w + 16L * ldw, ldw, Math.Max(width - 16, 0), k, panel + (long)k * PanelWidth + 16);
        }
        for (var j = 0; j < PanelWidth; j++)
        {
            var row = w + (long)j * ldw;
            for (var kk = k; kk < depth; kk++)
            {
                panel[(long)kk * PanelWidth + j] = j < width ? row[kk] : 0;
            }
        }
    }

    /// <summary>
    /// W rows [0, 16) (those from <paramref name="rows"/> on as zeros) × depth [k, k + 16) into out[d·32 + j] =
    /// W[j, k + d]: pairs of rows interleaved, then pairs of pairs, then 128-bit lanes, then lanes again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16(float* w, int ldw, int rows, int k, float* output)
    {
        var r = stackalloc Vector512<float>[16];
        for (var j = 0; j < 16; j++)
        {
            r[j] = j < rows ? Vector512.Load(w + (long)j * ldw + k) : default;
        }
        // t: per 128-bit lane, rows (2i, 2i+1) interleaved: unpack low holds depths 0-1 of the lane, high 2-3.
        // u: per lane, one depth for 4 rows; v and the store: the 4 lanes of 4 row groups gathered into one vector.
        for (var g = 0; g < 4; g++) // row groups 4g..4g+3
        {
            var t0 = Avx512F.UnpackLow(r[4 * g], r[4 * g + 1]);
            var t1 = Avx512F.UnpackHigh(r[4 * g], r[4 * g + 1]);
            var t2 = Avx512F.UnpackLow(r[4 * g + 2], r[4 * g + 3]);
            var t3 = Avx512F.UnpackHigh(r[4 * g + 2], r[4 * g + 3]);
            r[4 * g] = Avx512F.Shuffle(t0, t2, 0x44);     // depth 4L + 0 of rows 4g..4g+3, in lane L
            r[4 * g + 1] = Avx512F.Shuffle(t0, t2, 0xEE); // depth 4L + 1
            r[4 * g + 2] = Avx512F.Shuffle(t1, t3, 0x44); // depth 4L + 2
            r[4 * g + 3] = Avx512F.Shuffle(t1, t3, 0xEE); // depth 4L + 3
        }
        for (var d = 0; d < 4; d++) // depth 4L + d for every lane L
        {
            var v0 = Avx512F.Shuffle4x128(r[d], r[4 + d], 0x88);      // lanes 0, 2 of groups 0 and 1
            var v1 = Avx512F.Shuffle4x128(r[d], r[4 + d], 0xDD);      // lanes 1, 3
            var v2 = Avx512F.Shuffle4x128(r[8 + d], r[12 + d], 0x88); // lanes 0, 2 of groups 2 and 3
            var v3 = Avx512F.Shuffle4x128(r[8 + d], r[12 + d], 0xDD);
            Avx512F.Shuffle4x128(v0, v2, 0x88).Store(output + (long)d * PanelWidth);        // depth d
            Avx512F.Shuffle4x128(v0, v2, 0xDD).Store(output + (long)(8 + d) * PanelWidth);  // depth 8 + d
            Avx512F.Shuffle4x128(v1, v3, 0x88).Store(output + (long)(4 + d) * PanelWidth);  // depth 4 + d
            Avx512F.Shuffle4x128(v1, v3, 0xDD).Store(output + (long)(12 + d) * PanelWidth); // depth 12 + d
        }
    }

    private static void CopyTile(float* from, int ldFrom, float* to, int ldTo, int rows, int width)
    {
        for (var i = 0; i < rows; i++)
        {
            new ReadOnlySpan<float>(from + (long)i * ldFrom, width).CopyTo(new Span<float>(to + (long)i * ldTo, width));
        }
    }

    /// <summary>
    /// 8 x rows × 32 y columns over one depth block: from zero (<paramref name="first"/>) or from what y holds,
    /// plus the bias (32 values, or null), stored in y (rows <paramref name="ldy"/> floats apart).
    /// </summary>
    /// <param name="x">The tile's [depth][8] x values.</param>
    /// <param name="panel">The panel's [depth][32] W values.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile(float* x, float* panel, int depth, float* y, int ldy, bool first, float* bias)
    {
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (first)
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = default;
        }
        else
        {
            c00 = Vector512.Load(y); c01 = Vector512.Load(y + 16);
            c10 = Vector512.Load(y + ldy); c11 = Vector512.Load(y + ldy + 16);
            c20 = Vector512.Load(y + 2L * ldy); c21 = Vector512.Load(y + 2L * ldy + 16);
            c30 = Vector512.Load(y + 3L * ldy); c31 = Vector512.Load(y + 3L * ldy + 16);
            c40 = Vector512.Load(y + 4L * ldy); c41 = Vector512.Load(y + 4L * ldy + 16);
            c50 = Vector512.Load(y + 5L * ldy); c51 = Vector512.Load(y + 5L * ldy + 16);
            c60 = Vector512.Load(y + 6L * ldy); c61 = Vector512.Load(y + 6L * ldy + 16);
            c70 = Vector512.Load(y + 7L * ldy); c71 = Vector512.Load(y + 7L * ldy + 16);
        }
        for (var k = 0; k < depth; k++)
        {
            var b0 = Vector512.Load(panel);
            var b1 = Vector512.Load(panel + 16);
            var a = Vector512.Create(x[0]);
            c00 = Vector512.FusedMultiplyAdd(a, b0, c00); c01 = Vector512.FusedMultiplyAdd(a, b1, c01);
            a = Vector512.Create(x[1]);
            c10 = Vector512.FusedMultiplyAdd(a, b0, c10); c11 = Vector512.FusedMultiplyAdd(a, b1, c11);
            a = Vector512.Create(x[2]);
            c20 = Vector512.FusedMultiplyAdd(a, b0, c20); c21 = Vector512.FusedMultiplyAdd(a, b1, c21);
            a = Vector512.Create(x[3]);
            c30 = Vector512.FusedMultiplyAdd(a, b0, c30); c31 = Vector512.FusedMultiplyAdd(a, b1, c31);
            a = Vector512.Create(x[4]);
            c40 = Vector512.FusedMultiplyAdd(a, b0, c40); c41 = Vector512.FusedMultiplyAdd(a, b1, c41);
            a = Vector512.Create(x[5]);
            c50 = Vector512.FusedMultiplyAdd(a, b0, c50); c51 = Vector512.FusedMultiplyAdd(a, b1, c51);
            a = Vector512.Create(x[6]);
            c60 = Vector512.FusedMultiplyAdd(a, b0, c60); c61 = Vector512.FusedMultiplyAdd(a, b1, c61);
            a = Vector512.Create(x[7]);
            c70 = Vector512.FusedMultiplyAdd(a, b0, c70); c71 = Vector512.FusedMultiplyAdd(a, b1, c71);
            x += TileRows;
            panel += PanelWidth;
        }
        if (bias != null)
        {
            var d0 = Vector512.Load(bias);
            var d1 = Vector512.Load(bias + 16);
            c00 += d0; c01 += d1; c10 += d0; c11 += d1; c20 += d0; c21 += d1; c30 += d0; c31 += d1;
            c40 += d0; c41 += d1; c50 += d0; c51 += d1; c60 += d0; c61 += d1; c70 += d0; c71 += d1;
        }
        c00.Store(y); c01.Store(y + 16);
        c10.Store(y + ldy); c11.Store(y + ldy + 16);
        c20.Store(y + 2L * ldy); c21.Store(y + 2L * ldy + 16);
        c30.Store(y + 3L * ldy); c31.Store(y + 3L * ldy + 16);
        c40.Store(y + 4L * ldy); c41.Store(y + 4L * ldy + 16);
        c50.Store(y + 5L * ldy); c51.Store(y + 5L * ldy + 16);
        c60.Store(y + 6L * ldy); c61.Store(y + 6L * ldy + 16);
        c70.Store(y + 7L * ldy); c71.Store(y + 7L * ldy + 16);
    }
}
