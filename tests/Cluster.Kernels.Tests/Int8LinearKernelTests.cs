using Cluster.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Kernels.Tests;

/// <summary>
/// The int8 (Q8_0-style) weights and their kernel: the quantizer against the rule written out by hand, the VNNI path
/// bit for bit against the scalar reference, against libtorch on the dequantized weights within what quantizing x
/// can move a sum, and the same bits whatever the batch and the threads.
/// </summary>
public sealed unsafe class Int8LinearKernelTests
{
    public static TheoryData<int, int> Shapes() => new()
    {
        // (K, N): K inside one block, at, past and around blocks of 32; N around panels of 8.
        { 1, 1 }, { 7, 5 }, { 32, 8 }, { 33, 9 }, { 64, 16 }, { 100, 13 }, { 768, 37 }, { 1027, 130 },
    };

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

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Vector_path_gives_the_scalar_references_bits(int k, int n)
    {
        if (!Int8LinearKernel.IsAccelerated)
        {
            Assert.Throws<PlatformNotSupportedException>(() => Int8LinearKernel.Run(null, 1, null!, null, null, path: KernelPath.Vector256));
            return;
        }
        using var scope = NewDisposeScope();
        var generator = new Random(k * 31 + n);
        using var matrix = Quantized(torch.randn(n, k));
        foreach (var m in RowCounts)
        {
            var x = torch.randn(m, k) * 3;                                  // (M, K)
            var bias = generator.Next(2) == 1 ? torch.randn(n) : null;      // (N)
            var scalar = torch.empty(m, n);
            var vector = torch.empty(m, n);
            Int8LinearKernel.Run(Ptr(x), m, matrix, bias is null ? null : Ptr(bias), Ptr(scalar), path: KernelPath.Scalar);
            Int8LinearKernel.Run(Ptr(x), m, matrix, bias is null ? null : Ptr(bias), Ptr(vector));
            var differing = scalar.ne(vector).sum().item<long>();
            Assert.True(differing == 0, $"M={m} K={k} N={n}: {differing} of {m * n} outputs differ from the scalar path, max diff {(scalar - vector).abs().max().item<float>():E3}");
        }
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

    [Fact]
    public void A_row_gets_the_same_bits_alone_as_in_any_batch_and_on_any_number_of_threads()
    {
        using var scope = NewDisposeScope();
        using var two = new KernelTeam(2);
        using var one = new KernelTeam(1);
        const int k = 300, n = 1001;
        using var matrix = Quantized(torch.randn(n, k));
        const int rows = 20; // one-panel tiles alone, two-panel tiles in the batch
        var x = torch.randn(rows, k);                                       // (rows, K)
        var batched = torch.empty(rows, n);
        Int8LinearKernel.Run(Ptr(x), rows, matrix, null, Ptr(batched), two);
        for (var row = 0; row < rows; row++)
        {
            var alone = torch.empty(1, n);
            Int8LinearKernel.Run(Ptr(x) + row * k, 1, matrix, null, Ptr(alone), row % 2 == 0 ? one : two);
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
