using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>
/// y(M, N) = x(M, K) · W(N, K)ᵀ (+ bias(N)) with W in <see cref="Int8Matrix"/> blocks, as llama.cpp multiplies Q8_0
/// weights: x is quantized the same way first (per row, per block of 32: d = max|x| / 127, q = round(x / d), ties
/// to even), each block's integer dot product Σ q_w·q_x is exact (AVX-VNNI's VPDPBUSD, four byte products a lane),
/// and the blocks are summed in fp32 as Σ_b dot_b · (d_w,b · d_x,b), block by block. Every row of y is summed in the
/// same order whatever M, the tile or the thread, so a sequence's logits do not depend on the batch it is in, and
/// the scalar path (the reference the tests hold the vector paths to) gives the same bits.
/// </summary>
/// <remarks>
/// One 256-bit load of a panel holds 4 columns of 8 rows, one row per lane, multiplied by the same 4 bytes of x
/// broadcast to every lane: 8 rows summed at once, no horizontal sums. The byte dot products run on AVX-VNNI where
/// the CPU has it (<see cref="VnniDot"/>) and on plain AVX2 otherwise (<see cref="Avx2Dot"/>: the CPUs of many cloud
/// machines, AMD before Zen 4 and Intel servers before Sapphire Rapids, lack AVX-VNNI); both sums are exact
/// integers, so both paths give the scalar reference's bits. .NET 10 exposes VNNI only on 256-bit vectors
/// (<c>AvxVnni</c>); on this AMD CPU 512-bit operations run as two 256-bit halves anyway.
/// </remarks>
public static unsafe class Int8LinearKernel
{
    // W is handed to the team's threads in chunks of about this many bytes (whole panels), as LinearKernel does.
    private const long ChunkBytes = 64 * 1024;

    // Below this many weights a call is too short to pay for waking the team.
    private const long MinimumWeightsPerPart = 16 * 1024;

    // x rows per register tile, and per tile of the packed x: one panel's 4 rows of two integer and one fp32
    // accumulators, two W loads, a broadcast and the scales stay within 16 vector registers, all a CPU without
    // AVX-512 has (with AVX-512 the JIT encodes them as EVEX and has 32: the two-panel tile's inner loop uses
    // ymm16-18 there, without spilling); two panels' 4 rows of one integer sum each too.
    private const int TileRows = 4;

    // From how many x rows the two-panel tile runs. Linear layers of the step profile (ms, int8, 4-row tiles of packed
    // x, two runs each, alternating, 7 December): at 4 rows 5.0-5.1 with it against 3.8-3.9 without (not analysed),
    // at 8 rows 6.4 against 6.9-7.2, at 12 7.6-7.8 against 8.8-9.0 (and with 3-row tiles before packing, at 32 rows
    // 17.0-17.7 against 20.2-20.5).
    private const int PairTileMinRows = 8;

    // Groups of 4 columns in a block of 32.
    private const int Groups = Int8Matrix.BlockSize / Int8Matrix.GroupColumns;

    // 2^112 = 2^(127 − 15), fp32's exponent bias less fp16's; a constant, not a static field, so the tile does not
    // check a class initializer every block (the tests compare the vector path's bits with the scalar widening's).
    private const float HalfExponentBias = 5.192296858534828E+33f;

    /// <summary>The fastest path this CPU runs.</summary>
    public static Int8DotPath BestPath { get; } = Int8DotPaths.IsSupported(Int8DotPath.AvxVnni) ? Int8DotPath.AvxVnni
        : Int8DotPaths.IsSupported(Int8DotPath.Avx2) ? Int8DotPath.Avx2
        : Int8DotPath.Scalar;

    /// <summary>
    /// The path calls take when they name none: <see cref="BestPath"/> unless a benchmark sets another (to time the
    /// AVX2 path on a CPU that has VNNI, as a machine without it would run).
    /// </summary>
    public static Int8DotPath DefaultPath
    {
        get => _defaultPath;
        set => _defaultPath = Int8DotPaths.IsSupported(value) ? value : throw Unsupported(value);
    }

    private static Int8DotPath _defaultPath = BestPath;

    /// <summary>Whether this CPU runs a vector path; without one the kernel runs its scalar reference, correct but slow.</summary>
    public static bool IsAccelerated => BestPath != Int8DotPath.Scalar;

    /// <param name="x">(rows, weight.Columns), row-major fp32.</param>
    /// <param name="bias">(weight.Rows) fp32, or null.</param>
    /// <param name="y">(rows, weight.Rows), row-major fp32; written, never read.</param>
    /// <param name="path">The instructions to run on; <see cref="DefaultPath"/> when null.</param>
    public static void Run(float* x, int rows, Int8Matrix weight, float* bias, float* y, KernelTeam? team = null, Int8DotPath? path = null)
    {
        KernelArguments.AtLeast(rows, 0, nameof(rows));
        var chosen = path ?? _defaultPath;
        if (!Int8DotPaths.IsSupported(chosen))
        {
            throw Unsupported(chosen);
        }
        var vector = chosen != Int8DotPath.Scalar;
        if (rows == 0)
        {
            return;
        }
        var k = weight.Columns;
        var blocks = weight.Blocks;
        var paddedRows = (rows + TileRows - 1) / TileRows * TileRows; // the last tile's missing rows stay unread
        // This thread's buffer for x quantized: per row and block 32 values, a scale and a correction.
        var scratch = (sbyte*)ThreadScratch<Job>.Rent((long)paddedRows * blocks * (Int8Matrix.BlockSize + sizeof(float) + sizeof(int)));
        var job = new Job
        {
            W = weight.Quants, Scales = weight.Scales, N = weight.Rows, Blocks = blocks, M = rows, Bias = bias, Y = y,
            XQuants = scratch, XScales = (float*)(scratch + (long)paddedRows * blocks * Int8Matrix.BlockSize),
        };
        job.XCorrections = (int*)(job.XScales + (long)paddedRows * blocks);
        for (var m = 0; m < rows; m++)
        {
            QuantizeRow(ref job, x + (long)m * k, k, m, vector && Avx512F.IsSupported);
        }

        var runner = team ?? KernelTeam.Shared;
        var panelBytes = (long)blocks * (Int8Matrix.PanelBlockBytes + Int8Matrix.PanelRows * sizeof(ushort));
        job.ChunkPanels = (int)Math.Clamp(ChunkBytes / panelBytes, 1, weight.Panels);
        job.ChunkCount = (weight.Panels + job.ChunkPanels - 1) / job.ChunkPanels;
        var byWork = (long)weight.Rows * k / MinimumWeightsPerPart;
        var parts = (int)Math.Clamp(Math.Min(byWork, job.ChunkCount), 1, runner.Threads);
        var chunkScratch = stackalloc byte[WorkChunks.ScratchBytes(parts)];
        job.Chunks = WorkChunks.Create(chunkScratch, job.ChunkCount, parts);
        delegate*<void*, int, int, void> runPart = chosen switch
        {
            Int8DotPath.AvxVnni => &RunPart<VnniDot>,
            Int8DotPath.Avx2 => &RunPart<Avx2Dot>,
            _ => &RunScalarPart,
        };
        runner.Run(runPart, &job, parts);
        GC.KeepAlive(weight);
    }

    private static PlatformNotSupportedException Unsupported(Int8DotPath path) =>
        new($"The int8 kernel's {path} path needs {Int8DotPaths.Needs(path)}, which this CPU lacks.");

    private struct Job
    {
        public byte* W;
        public ushort* Scales;
        public int N, Blocks, M;
        public float* Bias;
        public float* Y;
        // x quantized and packed by tiles of 4 rows, so that a tile reads its x as one stream (a prefill's x does not fit
        // in L1, and a layout with all rows side by side had every group of a tile on another cache line):
        public sbyte* XQuants;      // (M / 4 tiles, Blocks, 8 groups, 4 rows, 4 columns)
        public float* XScales;      // (M / 4 tiles, Blocks, 4 rows)
        public int* XCorrections;   // (M / 4 tiles, Blocks, 4 rows): −128 · Σ q_x of the block
        public int ChunkPanels, ChunkCount;
        public WorkChunks Chunks;
    }

    /// <summary>
    /// Row <paramref name="m"/> of x in blocks of 32: d = max|x| / 127, q = round(x · (1/d)) ties to even (the rounding
    /// AVX-512's conversion uses, so both paths give the same q), zeros past the row's end; and −128 · Σ q per block.
    /// </summary>
    private static void QuantizeRow(ref Job job, float* x, int k, int m, bool vector)
    {
        var block32 = stackalloc sbyte[Int8Matrix.BlockSize];
        for (var block = 0; block < job.Blocks; block++)
        {
            var first = block * Int8Matrix.BlockSize;
            var count = Math.Min(Int8Matrix.BlockSize, k - first);
            float scale;
            int sum;
            if (vector && count == Int8Matrix.BlockSize)
            {
                var low = Vector512.Load(x + first);
                var high = Vector512.Load(x + first + 16);
                var max = Vector512.Max(Vector512.Abs(low), Vector512.Abs(high));
                var max256 = Vector256.Max(max.GetLower(), max.GetUpper());
                var max128 = Vector128.Max(max256.GetLower(), max256.GetUpper());
                scale = MathF.Max(MathF.Max(max128[0], max128[1]), MathF.Max(max128[2], max128[3])) / 127f;
                var inverse = Vector512.Create(scale != 0f ? 1f / scale : 0f);
                var qLow = Avx512F.ConvertToVector512Int32(low * inverse);   // rounds to nearest, ties to even
                var qHigh = Avx512F.ConvertToVector512Int32(high * inverse);
                Avx512F.ConvertToVector128SByte(qLow).Store(block32);
                Avx512F.ConvertToVector128SByte(qHigh).Store(block32 + 16);
                sum = Vector512.Sum(qLow + qHigh);
            }
            else
            {
                var largest = 0f;
                for (var i = 0; i < count; i++)
                {
                    largest = MathF.Max(largest, MathF.Abs(x[first + i]));
                }
                scale = largest / 127f;
                var inverse = scale != 0f ? 1f / scale : 0f;
                sum = 0;
                for (var i = 0; i < Int8Matrix.BlockSize; i++)
                {
                    var value = i < count ? (int)MathF.Round(x[first + i] * inverse, MidpointRounding.ToEven) : 0;
                    block32[i] = (sbyte)value;
                    sum += value;
                }
            }
            var at = TileBlock(ref job, m, block);
            var groups = (int*)(job.XQuants + at * Int8Matrix.BlockSize) + m % TileRows;
            for (var g = 0; g < Groups; g++)
            {
                groups[g * TileRows] = ((int*)block32)[g]; // 4 columns of row m, next to its tile's other rows' 4
            }
            job.XScales[at + m % TileRows] = scale;
            job.XCorrections[at + m % TileRows] = -128 * sum;
        }
    }

    /// <summary>Where row <paramref name="m"/>'s tile keeps block <paramref name="block"/>, in rows of x (4 per tile and block).</summary>
    private static long TileBlock(ref Job job, int m, int block) => ((long)(m / TileRows) * job.Blocks + block) * TileRows;

    private static void RunScalarPart(void* state, int part, int parts)
    {
        ref var job = ref *(Job*)state;
        var panels = (job.N + Int8Matrix.PanelRows - 1) / Int8Matrix.PanelRows;
        var cursor = 0;
        while (job.Chunks.TryClaim(part, ref cursor, out var chunk))
        {
            var first = chunk * job.ChunkPanels;
            for (var panel = first; panel < Math.Min(first + job.ChunkPanels, panels); panel++)
            {
                ScalarPanel(ref job, panel);
            }
        }
    }

    /// <typeparam name="TD">The byte dot product's instructions.</typeparam>
    private static void RunPart<TD>(void* state, int part, int parts) where TD : IByteDot
    {
        ref var job = ref *(Job*)state;
        var panels = (job.N + Int8Matrix.PanelRows - 1) / Int8Matrix.PanelRows;
        var cursor = 0;
        while (job.Chunks.TryClaim(part, ref cursor, out var chunk))
        {
            var first = chunk * job.ChunkPanels;
            var end = Math.Min(first + job.ChunkPanels, panels);
            for (var panel = first; panel < end; panel++)
            {
                var m = 0;
                if (job.M >= PairTileMinRows && panel + 1 < end)
                {
                    // Two panels at a time: each x broadcast feeds both (fewer loads a multiply-add where many rows keep it busy).
                    for (; m + TileRows <= job.M; m += TileRows)
                    {
                        PanelPairTile<FourRows, TD>(ref job, panel, m);
                    }
                    switch (job.M - m)
                    {
                        case 3: PanelPairTile<ThreeRows, TD>(ref job, panel, m); break;
                        case 2: PanelPairTile<TwoRows, TD>(ref job, panel, m); break;
                        case 1: PanelPairTile<OneRow, TD>(ref job, panel, m); break;
                    }
                    panel++;
                    continue;
                }
                for (; m + TileRows <= job.M; m += TileRows)
                {
                    PanelTile<FourRows, TD>(ref job, panel, m);
                }
                switch (job.M - m)
                {
                    case 3: PanelTile<ThreeRows, TD>(ref job, panel, m); break;
                    case 2: PanelTile<TwoRows, TD>(ref job, panel, m); break;
                    case 1: PanelTile<OneRow, TD>(ref job, panel, m); break;
                }
            }
        }
    }

    /// <summary>16 rows of W (panels <paramref name="panel"/> and the next) against TM ≤ 4 rows of x, all of K.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PanelPairTile<TM, TD>(ref Job job, int panel, int m) where TM : IRowCount where TD : IByteDot
    {
        var rows = TM.Count;
        var blocks = job.Blocks;
        var w = job.W + (long)panel * blocks * Int8Matrix.PanelBlockBytes;
        var nextPanel = (long)blocks * Int8Matrix.PanelBlockBytes; // from a block of this panel to the same block of the next
        var s = job.Scales + (long)panel * blocks * Int8Matrix.PanelRows;
        var nextScales = blocks * Int8Matrix.PanelRows;
        var start = TileBlock(ref job, m, 0);
        var x = job.XQuants + start * Int8Matrix.BlockSize;
        var d = job.XScales + start;
        var c = job.XCorrections + start;
        const int groupStride = TileRows * Int8Matrix.GroupColumns;
        Vector256<float> f00 = default, f01 = default, f02 = default, f03 = default, f10 = default, f11 = default, f12 = default, f13 = default;
        for (var b = 0; b < blocks; b++, s += Int8Matrix.PanelRows, d += TileRows, c += TileRows)
        {
            var i00 = TD.Start(c[0]);
            var i10 = i00;
            var i01 = rows > 1 ? TD.Start(c[1]) : default;
            var i11 = i01;
            var i02 = rows > 2 ? TD.Start(c[2]) : default;
            var i12 = i02;
            var i03 = rows > 3 ? TD.Start(c[3]) : default;
            var i13 = i03;
            for (var g = 0; g < Groups; g++, w += Vector256<byte>.Count, x += groupStride)
            {
                var q0 = Vector256.Load(w);
                var q1 = Vector256.Load(w + nextPanel);
                var x0 = Vector256.Create(*(int*)x).AsSByte();
                i00 = TD.Add(i00, q0, x0);
                i10 = TD.Add(i10, q1, x0);
                if (rows > 1)
                {
                    var x1 = Vector256.Create(*(int*)(x + 4)).AsSByte();
                    i01 = TD.Add(i01, q0, x1);
                    i11 = TD.Add(i11, q1, x1);
                }
                if (rows > 2)
                {
                    var x2 = Vector256.Create(*(int*)(x + 8)).AsSByte();
                    i02 = TD.Add(i02, q0, x2);
                    i12 = TD.Add(i12, q1, x2);
                }
                if (rows > 3)
                {
                    var x3 = Vector256.Create(*(int*)(x + 12)).AsSByte();
                    i03 = TD.Add(i03, q0, x3);
                    i13 = TD.Add(i13, q1, x3);
                }
            }
            var scales0 = WidenScales(s);
            var scales1 = WidenScales(s + nextScales);
            var d0 = Vector256.Create(d[0]);
            f00 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i00), scales0 * d0, f00);
            f10 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i10), scales1 * d0, f10);
            if (rows > 1)
            {
                var d1 = Vector256.Create(d[1]);
                f01 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i01), scales0 * d1, f01);
                f11 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i11), scales1 * d1, f11);
            }
            if (rows > 2)
            {
                var d2 = Vector256.Create(d[2]);
                f02 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i02), scales0 * d2, f02);
                f12 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i12), scales1 * d2, f12);
            }
            if (rows > 3)
            {
                var d3 = Vector256.Create(d[3]);
                f03 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i03), scales0 * d3, f03);
                f13 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(i13), scales1 * d3, f13);
            }
        }
        Store(ref job, panel, m, f00);
        Store(ref job, panel + 1, m, f10);
        if (rows > 1) { Store(ref job, panel, m + 1, f01); Store(ref job, panel + 1, m + 1, f11); }
        if (rows > 2) { Store(ref job, panel, m + 2, f02); Store(ref job, panel + 1, m + 2, f12); }
        if (rows > 3) { Store(ref job, panel, m + 3, f03); Store(ref job, panel + 1, m + 3, f13); }
    }

    /// <summary>8 rows of W (one panel) against TM rows of x from <paramref name="m"/>, all of K.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PanelTile<TM, TD>(ref Job job, int panel, int m) where TM : IRowCount where TD : IByteDot
    {
        var rows = TM.Count;
        var blocks = job.Blocks;
        var w = job.W + (long)panel * blocks * Int8Matrix.PanelBlockBytes;
        var s = job.Scales + (long)panel * blocks * Int8Matrix.PanelRows;
        var start = TileBlock(ref job, m, 0);
        var x = job.XQuants + start * Int8Matrix.BlockSize; // the tile's x, one stream: per block, per group, 4 rows × 4 bytes
        var d = job.XScales + start;                         // per block, the tile's 4 rows
        var c = job.XCorrections + start;
        const int groupStride = TileRows * Int8Matrix.GroupColumns;
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (var b = 0; b < blocks; b++, s += Int8Matrix.PanelRows, d += TileRows, c += TileRows)
        {
            // Each block's integer sums start at the rows' corrections; each row gets two (even and odd groups) so its
            // multiply-adds do not wait on each other (one chain of 8 per row measured 60-80 % slower from 8 rows on);
            // integers add exactly, so the split changes nothing.
            var e0 = TD.Start(c[0]);
            var e1 = rows > 1 ? TD.Start(c[1]) : default;
            var e2 = rows > 2 ? TD.Start(c[2]) : default;
            var e3 = rows > 3 ? TD.Start(c[3]) : default;
            Vector256<int> o0 = default, o1 = default, o2 = default, o3 = default;
            for (var g = 0; g < Groups; g += 2, w += 2 * Vector256<byte>.Count, x += 2 * groupStride)
            {
                var even = Vector256.Load(w); // 8 rows × 4 columns, q + 128; x's 4 bytes of a row go to every lane
                var odd = Vector256.Load(w + Vector256<byte>.Count);
                var next = x + groupStride;
                e0 = TD.Add(e0, even, Vector256.Create(*(int*)x).AsSByte());
                o0 = TD.Add(o0, odd, Vector256.Create(*(int*)next).AsSByte());
                if (rows > 1)
                {
                    e1 = TD.Add(e1, even, Vector256.Create(*(int*)(x + 4)).AsSByte());
                    o1 = TD.Add(o1, odd, Vector256.Create(*(int*)(next + 4)).AsSByte());
                }
                if (rows > 2)
                {
                    e2 = TD.Add(e2, even, Vector256.Create(*(int*)(x + 8)).AsSByte());
                    o2 = TD.Add(o2, odd, Vector256.Create(*(int*)(next + 8)).AsSByte());
                }
                if (rows > 3)
                {
                    e3 = TD.Add(e3, even, Vector256.Create(*(int*)(x + 12)).AsSByte());
                    o3 = TD.Add(o3, odd, Vector256.Create(*(int*)(next + 12)).AsSByte());
                }
            }
            e0 += o0;
            if (rows > 1) e1 += o1;
            if (rows > 2) e2 += o2;
            if (rows > 3) e3 += o3;
            var scales = WidenScales(s);
            f0 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(e0), scales * Vector256.Create(d[0]), f0);
            if (rows > 1) f1 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(e1), scales * Vector256.Create(d[1]), f1);
            if (rows > 2) f2 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(e2), scales * Vector256.Create(d[2]), f2);
            if (rows > 3) f3 = Fma.MultiplyAdd(Avx.ConvertToVector256Single(e3), scales * Vector256.Create(d[3]), f3);
        }
        Store(ref job, panel, m, f0);
        if (rows > 1) Store(ref job, panel, m + 1, f1);
        if (rows > 2) Store(ref job, panel, m + 2, f2);
        if (rows > 3) Store(ref job, panel, m + 3, f3);
    }

    /// <summary>
    /// The kernel's one integer operation: to each 32-bit lane of a sum, the 4 products of its 4 stored weight bytes
    /// (q + 128) with 4 bytes of x, exactly. A block's sum starts at <see cref="Start"/> given its correction
    /// −128 · Σ q_x, and ends at Σ q_w·q_x on every path.
    /// </summary>
    private interface IByteDot
    {
        static abstract Vector256<int> Start(int correction);

        static abstract Vector256<int> Add(Vector256<int> sum, Vector256<byte> weights, Vector256<sbyte> x);
    }

    /// <summary>
    /// AVX-VNNI's VPDPBUSD multiplies unsigned by signed bytes, so it takes the stored q + 128 as it is; the sum starts at
    /// the correction −128 · Σ q_x, which takes the offset back out.
    /// </summary>
    private readonly struct VnniDot : IByteDot
    {
        public static Vector256<int> Start(int correction) => Vector256.Create(correction);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Add(Vector256<int> sum, Vector256<byte> weights, Vector256<sbyte> x) =>
            AvxVnni.MultiplyWideningAndAdd(sum, weights, x);
    }

    /// <summary>
    /// AVX2 has no 4-byte dot product; VPMADDUBSW (unsigned × signed bytes, adjacent pairs added into 16 bits, saturating)
    /// and VPMADDWD (pairs of 16-bit values into 32 bits) make one, as llama.cpp's AVX2 path does. The stored bytes
    /// (up to 255) times x could pass 16 bits in a pair, so the weight goes in signed, q = stored − 128 (the top bit
    /// flipped), as |q| with its sign moved onto x: |q| · sign(x, q) = q · x, and each pair stays within
    /// 2 · 128 · 127 &lt; 2^15, exact. Without the offset the sum starts at 0 (three instructions more a product
    /// than VNNI's one, shared by the rows of a tile where the JIT sees it).
    /// </summary>
    private readonly struct Avx2Dot : IByteDot
    {
        public static Vector256<int> Start(int correction) => default;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Add(Vector256<int> sum, Vector256<byte> weights, Vector256<sbyte> x)
        {
            var q = (weights ^ Vector256.Create((byte)0x80)).AsSByte();                 // q_w, −128..127
            var pairs = Avx2.MultiplyAddAdjacent(Avx2.Abs(q), Avx2.Sign(x, q));          // (16 × 16 bits) q·x pairs
            return sum + Avx2.MultiplyAddAdjacent(pairs, Vector256.Create((short)1));    // (8 × 32 bits) 4 products each
        }
    }

    /// <summary>A panel's 8 fp16 scales widened exactly: the bits shifted into fp32's place, then 2^112 for the exponent bias.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> WidenScales(ushort* scales) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(scales), 13).AsSingle() * Vector256.Create(HalfExponentBias);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref Job job, int panel, int m, Vector256<float> sums)
    {
        var n = panel * Int8Matrix.PanelRows;
        var y = job.Y + (long)m * job.N + n;
        if (n + Int8Matrix.PanelRows <= job.N)
        {
            (job.Bias == null ? sums : sums + Vector256.Load(job.Bias + n)).Store(y);
            return;
        }
        for (var r = 0; n + r < job.N; r++)
        {
            y[r] = job.Bias == null ? sums[r] : sums[r] + job.Bias[n + r];
        }
    }

    /// <summary>The reference: the same sums in the same order, one product at a time.</summary>
    private static void ScalarPanel(ref Job job, int panel)
    {
        var blocks = job.Blocks;
        for (var r = 0; r < Int8Matrix.PanelRows && panel * Int8Matrix.PanelRows + r < job.N; r++)
        {
            var n = panel * Int8Matrix.PanelRows + r;
            for (var m = 0; m < job.M; m++)
            {
                var sum = 0f;
                for (var b = 0; b < blocks; b++)
                {
                    var w = job.W + ((long)panel * blocks + b) * Int8Matrix.PanelBlockBytes;
                    var dot = 0;
                    for (var i = 0; i < Int8Matrix.BlockSize; i++)
                    {
                        int g = i / Int8Matrix.GroupColumns, column = i % Int8Matrix.GroupColumns;
                        var q = w[(g * Int8Matrix.PanelRows + r) * Int8Matrix.GroupColumns + column] - 128;
                        var xq = job.XQuants[(TileBlock(ref job, m, b) * Groups + g * TileRows + m % TileRows) * Int8Matrix.GroupColumns + column];
                        dot += q * xq;
                    }
                    var scale = (float)BitConverter.UInt16BitsToHalf(job.Scales[((long)panel * blocks + b) * Int8Matrix.PanelRows + r]);
                    sum = MathF.FusedMultiplyAdd(dot, scale * job.XScales[TileBlock(ref job, m, b) + m % TileRows], sum);
                }
                job.Y[(long)m * job.N + n] = job.Bias == null ? sum : sum + job.Bias[n];
            }
        }
    }
}
