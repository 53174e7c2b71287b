using Cluster.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Kernels.Tests;

/// <summary>
/// The int8 (Q8_0-style) weights and their kernel: the quantizer against the rule written out by hand, the AVX2 and
/// VNNI paths bit for bit against the scalar reference, against libtorch on the dequantized weights within what quantizing x
/// can move a sum, and the same bits whatever the batch and the threads.
/// </summary>
public sealed unsafe class Int8LinearKernelTests
{
    // (K, N): K inside one block, at, past and around blocks of 32; N around panels of 8.
    private static readonly (int K, int N)[] ShapeList = [(1, 1), (7, 5), (32, 8), (33, 9), (64, 16), (100, 13), (768, 37), (1027, 130)];

    public static TheoryData<int, int> Shapes()
    {
        var data = new TheoryData<int, int>();
        foreach (var (k, n) in ShapeList)
        {
            data.Add(k, n);
        }
        return data;
    }

    // Every one-panel tile (below 8 rows: 4 rows and each leftover) and every two-panel tile (from 8: 4 rows and each leftover).
    private static readonly int[] RowCounts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 18, 19, 33];

    [Fact]
    public void Quantize_follows_q8_0_a_scale_per_block_of_32_and_rounded_integers()
    {
        // Row 0: block 0 spans -2..2 (d = 2/127), block 1 holds a single 0.5 (d = 0.5/127); row 1: all zeros.
        var values = new float[2 * 40];
        values[0] = 2f; values[1] = -2f; values[2] = 1.5f; values[3] = 0.0078f; values[31] = -0.5f;
        values[32] = 0.5f;
        fixed (float* w = values)
        {
            using var matrix = Int8Matrix.Quantize(w, 2, 40);
            Assert.Equal((2, 40, 2, 1), (matrix.Rows, matrix.Columns, matrix.Blocks, matrix.Panels));
            var d0 = (float)(Half)(2f / 127f);
            Assert.Equal(d0, matrix.Scale(0, 0));
            Assert.Equal((float)(Half)(0.5f / 127f), matrix.Scale(0, 1));
            Assert.Equal(0f, matrix.Scale(1, 0));
            // q = round(w · 127 / 2), half away from zero, with the unrounded 1/d as llama.cpp computes it:
            // 1.5 → 95.25 → 95, 0.0078 → 0.495 → 0, -0.5 → -31.75 → -32.
            Assert.Equal(new sbyte[] { 127, -127, 95, 0 }, new[] { matrix.Quant(0, 0), matrix.Quant(0, 1), matrix.Quant(0, 2), matrix.Quant(0, 3) });
            Assert.Equal(-32, matrix.Quant(0, 31));
            Assert.Equal(127, matrix.Quant(0, 32));
            Assert.Equal(0, matrix.Quant(1, 5));
            var back = new float[2 * 40];
            fixed (float* destination = back)
            {
                matrix.Dequantize(destination);
            }
            Assert.Equal(127 * d0, back[0]);
            Assert.Equal(95 * d0, back[2]);
        }
    }

    public static TheoryData<Int8DotPath, int, int> PathsAndShapes()
    {
        var data = new TheoryData<Int8DotPath, int, int>();
        foreach (var path in VectorPaths)
        {
            foreach (var (k, n) in ShapeList)
            {
                data.Add(path, k, n);
            }
        }
        return data;
    }

    private static readonly Int8DotPath[] VectorPaths = [Int8DotPath.Avx2, Int8DotPath.AvxVnni];

    public static TheoryData<Int8DotPath> Paths() => new(VectorPaths);

    [Theory]
    [MemberData(nameof(PathsAndShapes))]
    public void Vector_paths_give_the_scalar_references_bits(Int8DotPath path, int k, int n)
    {
        if (!Int8DotPaths.IsSupported(path))
        {
            var refused = Assert.Throws<PlatformNotSupportedException>(() => Int8LinearKernel.Run(null, 1, null!, null, null, path: path));
            Assert.Contains(Int8DotPaths.Needs(path), refused.Message);
            return;
        }
        using var scope = NewDisposeScope();
        var generator = new Random(k * 31 + n);
        using var matrix = Quantized(torch.randn(n, k));
        foreach (var m in RowCounts)
        {
            var x = torch.randn(m, k) * 3;                                  // (M, K)
            var bias = generator.Next(2) == 1 ? torch.randn(n) : null;      // (N)
            AssertSameBitsAsScalar(matrix, x, bias, path, $"M={m} K={k} N={n}");
        }
    }

    /// <summary>
    /// Every weight and every x at ±127 of its block, signs mixed: the products AVX2's 16-bit pair sums would saturate
    /// on if the weights went in with their +128 offset (255 · 127 · 2 &gt; 2^15), and the extremes of the sign trick.
    /// </summary>
    [Theory]
    [MemberData(nameof(Paths))]
    public void Extreme_bytes_give_the_scalar_references_bits(Int8DotPath path)
    {
        if (!Int8DotPaths.IsSupported(path))
        {
            return; // the refusal is checked above
        }
        using var scope = NewDisposeScope();
        const int k = 96, n = 24;
        var signs = torch.randint(0, 2, [n, k]) * 2 - 1;                  // (N, K) of ±1
        using var matrix = Quantized(signs.to(ScalarType.Float32));        // every q_w = ±127
        foreach (var m in new[] { 1, 4, 8, 9 })
        {
            var x = (torch.randint(0, 2, [m, k]) * 2 - 1).to(ScalarType.Float32) * 5; // (M, K), every q_x = ±127
            x[0] = torch.full(k, 5f);                                         // a row whose products are all +127·q_w
            AssertSameBitsAsScalar(matrix, x, null, path, $"extremes, M={m}");
            var first = torch.empty(m, n);
            Int8LinearKernel.Run(Ptr(x), m, matrix, null, Ptr(first), path: path);
            // Row 0 against each weight row: Σ 127·(±127) · d_w·d_x, with d_w = 1/127 and d_x = 5/127 rounded to fp16 and fp32.
            var expected = signs.sum(1).to(ScalarType.Float32) * 127 * 127 * (float)(Half)(1f / 127f) * (5f / 127f); // (N)
            Assert.True(first[0].allclose(expected, rtol: 1e-5, atol: 1e-3), $"{path}: row of +127 against rows of ±127 gave {first[0].narrow(0, 0, 4).str()}, expected {expected.narrow(0, 0, 4).str()}");
        }
    }

    private static void AssertSameBitsAsScalar(Int8Matrix matrix, Tensor x, Tensor? bias, Int8DotPath path, string what)
    {
        var (m, n) = ((int)x.shape[0], matrix.Rows);
        var scalar = torch.empty(m, n);
        var vector = torch.empty(m, n);
        Int8LinearKernel.Run(Ptr(x), m, matrix, bias is null ? null : Ptr(bias), Ptr(scalar), path: Int8DotPath.Scalar);
        Int8LinearKernel.Run(Ptr(x), m, matrix, bias is null ? null : Ptr(bias), Ptr(vector), path: path);
        var differing = scalar.ne(vector).sum().item<long>();
        Assert.True(differing == 0, $"{path}, {what}: {differing} of {m * n} outputs differ from the scalar path, max diff {(scalar - vector).abs().max().item<float>():E3}");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Agrees_with_libtorch_on_the_dequantized_weights_within_what_quantizing_x_moves(int k, int n)
    {
        using var scope = NewDisposeScope();
        using var matrix = Quantized(torch.randn(n, k));
        var w = Dequantized(matrix);                                        // (N, K): exactly the weights multiplied
        foreach (var m in RowCounts)
        {
            var x = torch.randn(m, k);                                      // (M, K)
            var expected = nn.functional.linear(x, w);                      // (M, N)
            var actual = torch.empty(m, n);
            Int8LinearKernel.Run(Ptr(x), m, matrix, null, Ptr(actual));
            // Each x element moves by at most half its block's step d_x = max|x_block| / 127 (plus fp32 rounding):
            // |error| ≤ Σ_k |w_k| · d_x(k) / 2, with slack for the fp32 sums and the scale products.
            var halfStep = BlockMaxima(x, k) / 254f;                        // (M, K): d_x / 2 per element
            var allowed = halfStep.matmul(w.abs().t()) * 1.01f + x.abs().matmul(w.abs().t()) * (4 * k * 1.2e-7f) + 1e-5f;
            var excess = ((expected - actual).abs() - allowed).max().item<float>();
            Assert.True(excess <= 0, $"M={m} K={k} N={n}: an output exceeds its quantization bound by {excess:E3} (max diff {(expected - actual).abs().max().item<float>():E3})");
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void A_row_gets_the_same_bits_alone_as_in_any_batch_and_on_any_number_of_threads(Int8DotPath path)
    {
        if (!Int8DotPaths.IsSupported(path))
        {
            return; // the refusal is checked above
        }
        using var scope = NewDisposeScope();
        using var two = new KernelTeam(2);
        using var one = new KernelTeam(1);
        const int k = 300, n = 1001;
        using var matrix = Quantized(torch.randn(n, k));
        const int rows = 20; // one-panel tiles alone, two-panel tiles in the batch
        var x = torch.randn(rows, k);                                       // (rows, K)
        var batched = torch.empty(rows, n);
        Int8LinearKernel.Run(Ptr(x), rows, matrix, null, Ptr(batched), two, path);
        for (var row = 0; row < rows; row++)
        {
            var alone = torch.empty(1, n);
            Int8LinearKernel.Run(Ptr(x) + row * k, 1, matrix, null, Ptr(alone), row % 2 == 0 ? one : two, path);
            var differing = alone[0].ne(batched[row]).sum().item<long>();
            Assert.True(differing == 0, $"row {row}: {differing} of {n} outputs differ between the row alone and in a batch of {rows}");
        }
    }

    [Fact]
    public void Bad_input_fails_naming_the_argument()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Int8LinearKernel.Run(null, -1, null!, null, null));
        Assert.Contains("rows must be at least 0, was -1", error.Message);
        error = Assert.Throws<ArgumentOutOfRangeException>(() => Int8Matrix.Quantize(null, 0, 4));
        Assert.Contains("at least one row and one column, was (0, 4)", error.Message);
    }

    private static Int8Matrix Quantized(Tensor w) => Int8Matrix.Quantize(Ptr(w.contiguous()), (int)w.shape[0], (int)w.shape[1]);

    private static Tensor Dequantized(Int8Matrix matrix)
    {
        var w = torch.empty(matrix.Rows, matrix.Columns);
        matrix.Dequantize(Ptr(w));
        return w;
    }

    /// <summary>Each element's block maximum |x| (blocks of 32 along K, the last one partial).</summary>
    private static Tensor BlockMaxima(Tensor x, int k)
    {
        var result = torch.empty_like(x);
        for (var first = 0; first < k; first += Int8Matrix.BlockSize)
        {
            var count = Math.Min(Int8Matrix.BlockSize, k - first);
            var max = x.narrow(1, first, count).abs().amax([1], keepdim: true);  // (M, 1)
            result.narrow(1, first, count).copy_(max.expand(-1, count));
        }
        return result;
    }

    private static float* Ptr(Tensor t) => (float*)TensorMemory.Address(t);
}
