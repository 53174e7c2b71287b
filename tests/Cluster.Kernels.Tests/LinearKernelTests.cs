using Cluster.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Kernels.Tests;

/// <summary>
/// The kernel against libtorch's <c>nn.functional.linear</c> on random shapes: every x row count from 1 to 33
/// (full 4×4 and 8×3 tiles and every leftover), K and N that are and are not multiples of the vector widths (8, 16),
/// with and without bias; bf16 weights against libtorch on the same weights widened to fp32.
/// </summary>
public sealed unsafe class LinearKernelTests
{
    public static TheoryData<int, int> Shapes() => new()
    {
        // (K, N): K below, at and around 8/16/32 lanes; N around the 3- and 4-row tiles
        { 1, 1 }, { 7, 5 }, { 16, 4 }, { 17, 9 }, { 33, 3 }, { 64, 64 }, { 100, 13 }, { 768, 37 }, { 1027, 130 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Float32_agrees_with_libtorch_linear_for_every_row_count(int k, int n)
    {
        using var scope = NewDisposeScope();
        var generator = new Random(k * 1000 + n);
        for (var m = 1; m <= 33; m++)
        {
            var withBias = generator.Next(2) == 1;
            var x = torch.randn(m, k);                       // (M, K)
            var w = torch.randn(n, k);                       // (N, K)
            var bias = withBias ? torch.randn(n) : null;     // (N)
            var expected = nn.functional.linear(x, w, bias); // (M, N)
            var actual = torch.empty(m, n);                  // (M, N)
            LinearKernel.Float32(Ptr(x), m, k, Ptr(w), n, bias is null ? null : Ptr(bias), Ptr(actual));
            AssertWithinRounding(x, w, expected, actual, $"fp32 M={m} K={k} N={n} bias={withBias}");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void BFloat16_agrees_with_libtorch_on_the_same_weights_in_fp32(int k, int n)
    {
        using var scope = NewDisposeScope();
        var generator = new Random(k * 7 + n);
        for (var m = 1; m <= 33; m++)
        {
            var withBias = generator.Next(2) == 1;
            var x = torch.randn(m, k);                                   // (M, K)
            var w = torch.randn(n, k).to_type(ScalarType.BFloat16);      // (N, K) bf16
            var bias = withBias ? torch.randn(n) : null;                 // (N)
            var widened = w.to_type(ScalarType.Float32);                 // (N, K): exactly the bf16 values
            var expected = nn.functional.linear(x, widened, bias);       // (M, N)
            var actual = torch.empty(m, n);                              // (M, N)
            LinearKernel.BFloat16(Ptr(x), m, k, (ushort*)TensorMemory.Address(w), n, bias is null ? null : Ptr(bias), Ptr(actual));
            AssertWithinRounding(x, widened, expected, actual, $"bf16 M={m} K={k} N={n} bias={withBias}");
        }
    }

    [Fact]
    public void Every_path_this_cpu_runs_agrees_with_the_scalar_path()
    {
        // Paths the CPU lacks cannot run (they throw, checked below); every other one is compared.
        using var scope = NewDisposeScope();
        foreach (var path in Enum.GetValues<KernelPath>().Where(KernelPaths.IsSupported))
        foreach (var (m, k, n) in new[] { (1, 1, 1), (3, 23, 11), (5, 40, 6), (9, 129, 17), (33, 300, 45) })
        {
            var x = torch.randn(m, k);                                        // (M, K)
            var w = torch.randn(n, k);                                        // (N, K)
            var wBf16 = w.to_type(ScalarType.BFloat16);                       // (N, K) bf16
            var bias = torch.randn(n);                                        // (N)
            var scalar = torch.empty(m, n);
            var vector = torch.empty(m, n);
            LinearKernel.Float32(Ptr(x), m, k, Ptr(w), n, Ptr(bias), Ptr(scalar), path: KernelPath.Scalar);
            LinearKernel.Float32(Ptr(x), m, k, Ptr(w), n, Ptr(bias), Ptr(vector), path: path);
            AssertWithinRounding(x, w, scalar, vector, $"fp32 {path} vs scalar, M={m} K={k} N={n}");
            LinearKernel.BFloat16(Ptr(x), m, k, (ushort*)TensorMemory.Address(wBf16), n, Ptr(bias), Ptr(scalar), path: KernelPath.Scalar);
            LinearKernel.BFloat16(Ptr(x), m, k, (ushort*)TensorMemory.Address(wBf16), n, Ptr(bias), Ptr(vector), path: path);
            AssertWithinRounding(x, wBf16.to_type(ScalarType.Float32), scalar, vector, $"bf16 {path} vs scalar, M={m} K={k} N={n}");
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(8)]
    public void Splitting_rows_of_W_over_threads_gives_the_same_bits_as_one_thread(int threads)
    {
        // Every output element is one thread's dot product in the same order, whatever the split.
        using var scope = NewDisposeScope();
        using var team = new KernelTeam(threads);
        using var alone = new KernelTeam(1);
        foreach (var (m, k, n) in new[] { (1, 768, 2305), (7, 256, 1001), (32, 100, 4099) })
        {
            var x = torch.randn(m, k);
            var w = torch.randn(n, k);
            var one = torch.empty(m, n);
            var many = torch.empty(m, n);
            for (var repeat = 0; repeat < 20; repeat++) // repeated calls exercise the workers' spin, yield and sleep
            {
                LinearKernel.Float32(Ptr(x), m, k, Ptr(w), n, null, Ptr(one), alone);
                LinearKernel.Float32(Ptr(x), m, k, Ptr(w), n, null, Ptr(many), team);
                var differing = one.ne(many).sum().item<long>();
                Assert.True(differing == 0, $"{threads} threads, M={m} K={k} N={n}, call {repeat}: {differing} of {m * n} outputs differ from one thread's");
                if (repeat == 10)
                {
                    Thread.Sleep(30); // let the workers fall asleep: the next call must wake them
                }
            }
        }
    }

    [Fact]
    public void A_path_this_cpu_lacks_fails_naming_it()
    {
        var missing = Enum.GetValues<KernelPath>().Where(p => !KernelPaths.IsSupported(p)).ToArray();
        foreach (var path in missing)
        {
            var error = Assert.Throws<PlatformNotSupportedException>(() => LinearKernel.Float32(null, 1, 1, null, 1, null, null, path: path));
            Assert.Contains(path.ToString(), error.Message);
        }
        Assert.Equal(Enum.GetValues<KernelPath>().Length - missing.Length, (int)KernelPaths.Best + 1);
    }

    [Fact]
    public void Bad_sizes_fail_naming_the_argument_and_value()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => LinearKernel.Float32(null, 1, 0, null, 4, null, null));
        Assert.Contains("inFeatures must be at least 1, was 0", error.Message);
        error = Assert.Throws<ArgumentOutOfRangeException>(() => LinearKernel.Float32(null, -2, 4, null, 4, null, null));
        Assert.Contains("rows must be at least 0, was -2", error.Message);
        error = Assert.Throws<ArgumentOutOfRangeException>(() => new KernelTeam(0));
        Assert.Contains("at least 1 thread, was 0", error.Message);
    }

    /// <summary>
    /// fp32 sums in a different order differ by rounding only: at most ~K·ε·Σ|x·w| per element. The bound used
    /// is 4·K·ε·Σ|x·w| + 1e-6, far below what a wrong element, row or tile would give (O(Σ|x·w|/√K)).
    /// </summary>
    internal static void AssertWithinRounding(Tensor x, Tensor w, Tensor expected, Tensor actual, string what)
    {
        using var scope = NewDisposeScope();
        var k = x.shape[1];
        var magnitude = x.abs().matmul(w.abs().t());                                      // (M, N): Σ|x·w|
        var allowed = magnitude * (4 * k * 1.1920929e-7) + 1e-6;                          // (M, N)
        var diff = (expected - actual).abs();                                             // (M, N)
        var excess = (diff - allowed).max().item<float>();
        var maxDiff = diff.max().item<float>();
        var at = (diff - allowed).argmax().item<long>();
        Assert.True(excess <= 0, $"{what}: max abs diff {maxDiff:E3}; element {at} exceeds its fp32 rounding bound by {excess:E3}");
    }

    private static float* Ptr(Tensor t) => (float*)TensorMemory.Address(t);
}
