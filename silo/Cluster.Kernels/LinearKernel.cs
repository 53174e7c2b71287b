namespace Cluster.Kernels;

/// <summary>
/// y(M, N) = x(M, K) · W(N, K)ᵀ (+ bias(N)), as nn.Linear computes it: x and y fp32 row-major, W row-major
/// (N, K) in fp32 or bf16. Built for decode shapes (M from 1 to a few dozen), where the cost is reading W:
/// W is walked a few rows at a time (3 in <see cref="TallTiles"/>, 4 in the other tiles), each tile of W
/// rows is multiplied by every row of x while it is in cache (x stays in L2), so W is read from memory once; the
/// rows of W are handed to a <see cref="KernelTeam"/>'s threads in chunks (<see cref="WorkChunks"/>).
/// </summary>
public static unsafe class LinearKernel
{
    // Below this many weight elements a call is too short to pay for waking the team (~1-5 µs).
    private const long MinimumWeightsPerPart = 16 * 1024;

    // W is handed to the team's threads in chunks of about this many bytes (whole tiles; see RunPart): small enough
    // that a thread which falls behind costs the call at most a few microseconds, large enough that claiming one (an
    // atomic add on the thread's own cache line) is noise. 32, 64, 128 and 256 KiB measured alike (docs/PERFORMANCE.md).
    private const long ChunkBytes = 64 * 1024;

    /// <summary>y = x·Wᵀ + bias with fp32 weights.</summary>
    /// <param name="x">(rows, inFeatures), row-major.</param>
    /// <param name="weight">(outFeatures, inFeatures), row-major.</param>
    /// <param name="bias">(outFeatures), or null.</param>
    /// <param name="y">(rows, outFeatures), row-major; written, never read.</param>
    public static void Float32(float* x, int rows, int inFeatures, float* weight, int outFeatures, float* bias, float* y,
        KernelTeam? team = null, KernelPath? path = null) =>
        Run<Float32Weights>(x, rows, inFeatures, (byte*)weight, outFeatures, bias, y, team, path);

    /// <summary>y = x·Wᵀ + bias with bf16 weights (raw bits, as <c>ushort</c>), fp32 products and sums.</summary>
    /// <param name="x">(rows, inFeatures), row-major.</param>
    /// <param name="weight">(outFeatures, inFeatures), row-major bf16 bits.</param>
    /// <param name="bias">(outFeatures) fp32, or null.</param>
    /// <param name="y">(rows, outFeatures), row-major; written, never read.</param>
    public static void BFloat16(float* x, int rows, int inFeatures, ushort* weight, int outFeatures, float* bias, float* y,
        KernelTeam? team = null, KernelPath? path = null) =>
        Run<BFloat16Weights>(x, rows, inFeatures, (byte*)weight, outFeatures, bias, y, team, path);

    private static void Run<TW>(float* x, int rows, int inFeatures, byte* weight, int outFeatures, float* bias, float* y,
        KernelTeam? team, KernelPath? path) where TW : IWeightFormat
    {
        KernelArguments.AtLeast(rows, 0, nameof(rows));
        KernelArguments.AtLeast(inFeatures, 1, nameof(inFeatures));
        KernelArguments.AtLeast(outFeatures, 1, nameof(outFeatures));
        var chosen = path ?? KernelPaths.Best;
        if (!KernelPaths.IsSupported(chosen))
        {
            throw new PlatformNotSupportedException($"Kernel path {chosen} does not run on this CPU; the best it runs is {KernelPaths.Best}.");
        }
        if (rows == 0)
        {
            return;
        }
        var job = new Job { X = x, W = weight, Bias = bias, Y = y, M = rows, N = outFeatures, K = inFeatures, Path = chosen };
        if (typeof(TW) == typeof(BFloat16Weights) && chosen == KernelPath.Vector512 && inFeatures >= BFloat16PairTiles.Block)
        {
            // Read by every part; written here, before the team starts.
            job.Pairs = (float*)ThreadScratch<Job>.Rent((long)rows * inFeatures * sizeof(float)); // this thread's, kept across calls
            BFloat16PairTiles.Deinterleave(x, rows, inFeatures, job.Pairs);
        }
        var runner = team ?? KernelTeam.Shared;
        var height = TileHeight<TW>(ref job);
        var tiles = outFeatures / height;
        var tileBytes = (long)height * inFeatures * TW.ElementSize;
        job.ChunkTiles = (int)Math.Clamp(ChunkBytes / tileBytes, 1, Math.Max(tiles, 1));
        job.ChunkCount = Math.Max(1, (tiles + job.ChunkTiles - 1) / job.ChunkTiles);
        var byWork = (long)outFeatures * inFeatures / MinimumWeightsPerPart;
        var parts = (int)Math.Clamp(Math.Min(byWork, job.ChunkCount), 1, runner.Threads);
        var scratch = stackalloc byte[WorkChunks.ScratchBytes(parts)];
        job.Chunks = WorkChunks.Create(scratch, job.ChunkCount, parts);
        runner.Run(&RunPart<TW>, &job, parts);
    }

    private struct Job
    {
        public float* X;
        public byte* W;
        public float* Bias;
        public float* Y;
        /// <summary>x deinterleaved for <see cref="BFloat16PairTiles"/>, or null.</summary>
        public float* Pairs;
        public int M, N, K;
        public KernelPath Path;
        /// <summary>W's rows in chunks of this many tiles; the last chunk also takes the rows left over.</summary>
        public int ChunkTiles, ChunkCount;
        public WorkChunks Chunks;
    }

    /// <summary>
    /// Whether this call's x rows go through <see cref="TallTiles"/>. Measured against the 4×4 tiles on a
    /// GPT-2-small-sized model's weights, 2 threads (docs/PERFORMANCE.md, "fp32 at 8 rows: ask for the next tile"):
    /// fp32 19-24 against 27-39 ms from 2 to 8 rows, 39-44 against 44-49 at 16, a tie at 24 and 32, so from 2 rows on;
    /// bf16 10-17 against 15-19 ms from 2 to 7 rows, a tie at 8, and 4-15 % slower from 12 on, where both are bound by
    /// their multiply-adds and widening (the tall tile loads each W line twice), so from 2 to 8 rows.
    /// </summary>
    private static bool UsesTallTiles<TW>(ref Job job) where TW : IWeightFormat =>
        job.Path == KernelPath.Vector512 && job.M >= 2
        && (typeof(TW) == typeof(Float32Weights) || (job.Pairs != null && job.M <= TallTiles.InputRows));

    /// <summary>W rows per tile: what W's chunks are counted in.</summary>
    private static int TileHeight<TW>(ref Job job) where TW : IWeightFormat =>
        UsesTallTiles<TW>(ref job) ? TallTiles.WeightRows : 4;

    /// <summary>
    /// Part <paramref name="part"/> of <paramref name="parts"/>: claims chunks of W's rows until none is left. Chunks
    /// rather than an equal share each: a part that starts late or loses its core for a moment leaves its work to the
    /// others instead of holding the whole call up.
    /// </summary>
    private static void RunPart<TW>(void* state, int part, int parts) where TW : IWeightFormat
    {
        ref var job = ref *(Job*)state;
        var chunkRows = job.ChunkTiles * TileHeight<TW>(ref job);
        var cursor = 0;
        while (job.Chunks.TryClaim(part, ref cursor, out var chunk))
        {
            var first = chunk * chunkRows;
            RunRows<TW>(ref job, first, chunk == job.ChunkCount - 1 ? job.N : first + chunkRows);
        }
    }

    /// <summary>W rows [<paramref name="first"/>, <paramref name="end"/>) against every row of x.</summary>
    private static void RunRows<TW>(ref Job job, int first, int end) where TW : IWeightFormat
    {
        if (job.Path == KernelPath.Scalar)
        {
            LinearTiles.TileScalar<TW>(job.X, job.M, WeightRow<TW>(ref job, first), end - first, job.K, job.Y + first, job.N, BiasAt(ref job, first));
            return;
        }
        // One x row (a batch-1 decode): each W row as one stream with four accumulators. The 4-row tile pays off when
        // several x rows share each W load; with one it streamed W more slowly, fp32 and bf16 alike (docs/PERFORMANCE.md).
        if (job.M == 1 && job.Path == KernelPath.Vector512 && (typeof(TW) == typeof(Float32Weights) || job.Pairs != null))
        {
            for (var row = first; row < end; row++)
            {
                var w = WeightRow<TW>(ref job, row);
                var sum = typeof(TW) == typeof(Float32Weights) ? LinearTiles.RowDot512((float*)w, job.X, job.K) : BFloat16PairTiles.RowDot(job.Pairs, w, job.K);
                job.Y[row] = job.Bias == null ? sum : sum + job.Bias[row];
            }
            return;
        }
        var n = first;
        if (UsesTallTiles<TW>(ref job))
        {
            for (; n + TallTiles.WeightRows <= end; n += TallTiles.WeightRows)
            {
                TallRowsOfX<TW, ThreeRows>(ref job, n);
            }
            switch (end - n)
            {
                case 2: TallRowsOfX<TW, TwoRows>(ref job, n); break;
                case 1: TallRowsOfX<TW, OneRow>(ref job, n); break;
            }
            return;
        }
        for (; n + 4 <= end; n += 4)
        {
            RowsOfX<TW, FourRows>(ref job, n);
        }
        for (; n < end; n++)
        {
            RowsOfX<TW, OneRow>(ref job, n);
        }
    }

    /// <summary>W rows [n, n + TN) against every row of x, four x rows at a time.</summary>
    private static void RowsOfX<TW, TN>(ref Job job, int n) where TW : IWeightFormat where TN : IRowCount
    {
        var w = WeightRow<TW>(ref job, n);
        var bias = BiasAt(ref job, n);
        var wide = job.Path == KernelPath.Vector512;
        var m = 0;
        for (; m + 4 <= job.M; m += 4)
        {
            Tile<TW, FourRows, TN>(wide, ref job, m, n, w, bias);
        }
        switch (job.M - m)
        {
            case 3: Tile<TW, ThreeRows, TN>(wide, ref job, m, n, w, bias); break;
            case 2: Tile<TW, TwoRows, TN>(wide, ref job, m, n, w, bias); break;
            case 1: Tile<TW, OneRow, TN>(wide, ref job, m, n, w, bias); break;
        }
    }

    /// <summary>W rows [n, n + TN) against every row of x, eight x rows at a time; the first pass asks for the next tile's W.</summary>
    private static void TallRowsOfX<TW, TN>(ref Job job, int n) where TW : IWeightFormat where TN : IRowCount
    {
        var w = WeightRow<TW>(ref job, n);
        var bias = BiasAt(ref job, n);
        var m = 0;
        for (; m + TallTiles.InputRows <= job.M; m += TallTiles.InputRows)
        {
            TallTile<TW, EightRows, TN>(ref job, m, n, w, bias);
        }
        switch (job.M - m)
        {
            case 7: TallTile<TW, SevenRows, TN>(ref job, m, n, w, bias); break;
            case 6: TallTile<TW, SixRows, TN>(ref job, m, n, w, bias); break;
            case 5: TallTile<TW, FiveRows, TN>(ref job, m, n, w, bias); break;
            case 4: TallTile<TW, FourRows, TN>(ref job, m, n, w, bias); break;
            case 3: TallTile<TW, ThreeRows, TN>(ref job, m, n, w, bias); break;
            case 2: TallTile<TW, TwoRows, TN>(ref job, m, n, w, bias); break;
            case 1: TallTile<TW, OneRow, TN>(ref job, m, n, w, bias); break;
        }
    }

    private static void TallTile<TW, TM, TN>(ref Job job, int m, int n, byte* w, float* bias)
        where TW : IWeightFormat where TM : IRowCount where TN : IRowCount
    {
        var x = job.X + (long)m * job.K;
        var y = job.Y + (long)m * job.N + n;
        if (typeof(TW) == typeof(Float32Weights))
        {
            TallTiles.Float32<TM, TN>(x, (float*)w, job.K, y, job.N, bias, m == 0);
        }
        else
        {
            TallTiles.BFloat16<TM, TN>(job.Pairs + (long)m * job.K, x, w, job.K, y, job.N, bias, m == 0);
        }
    }

    private static void Tile<TW, TM, TN>(bool wide, ref Job job, int m, int n, byte* w, float* bias)
        where TW : IWeightFormat where TM : IRowCount where TN : IRowCount
    {
        var x = job.X + (long)m * job.K;
        var y = job.Y + (long)m * job.N + n;
        if (typeof(TW) == typeof(BFloat16Weights) && job.Pairs != null)
        {
            BFloat16PairTiles.Tile<TM, TN>(job.Pairs + (long)m * job.K, x, w, job.K, y, job.N, bias);
        }
        else if (wide)
        {
            LinearTiles.Tile512<TW, TM, TN>(x, w, job.K, y, job.N, bias);
        }
        else
        {
            LinearTiles.Tile256<TW, TM, TN>(x, w, job.K, y, job.N, bias);
        }
    }

    private static byte* WeightRow<TW>(ref Job job, int n) where TW : IWeightFormat => job.W + (long)n * job.K * TW.ElementSize;

    private static float* BiasAt(ref Job job, int n) => job.Bias == null ? null : job.Bias + n;
}
