using Cluster.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Kernels.Tests;

/// <summary>
/// The prefill product against libtorch's <c>nn.functional.linear</c>: row counts around its 8-row tiles, W row counts
/// around its 32-row panels, depths around the 16-step transpose and across its 512-step blocks, with and without
/// bias; and the property that lets a prefill chunk's rows not depend on the chunk: each y row is the same bits
/// whatever rows share its call, and whatever the threads.
/// </summary>
public sealed unsafe class PackedLinearKernelTests
{
    public static TheoryData<int, int, int> Shapes() => new()
    {
        // (M, K, N)
        { 1, 1, 1 }, { 7, 15, 31 }, { 8, 16, 32 }, { 9, 17, 33 }, { 33, 100, 70 }, { 40, 511, 64 }, { 64, 512, 96 },
        { 65, 513, 1 }, { 100, 1100, 130 }, { 512, 768, 2304 }, { 37, 2048, 768 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Float32_agrees_with_libtorch_linear(int m, int k, int n)
    {
        if (RefusedOnThisCpu())
        {
            return;
        }
        using var scope = NewDisposeScope();
        foreach (var withBias in new[] { false, true })
        {
            var x = torch.randn(m, k);                       // (M, K)
            var w = torch.randn(n, k);                       // (N, K)
            var bias = withBias ? torch.randn(n) : null;     // (N)
            var expected = nn.functional.linear(x, w, bias); // (M, N)
            var actual = torch.full(m, n, float.NaN);        // (M, N): every element must be written
            PackedLinearKernel.Float32(Ptr(x), m, k, Ptr(w), n, bias is null ? null : Ptr(bias), Ptr(actual));
            LinearKernelTests.AssertWithinRounding(x, w, expected, actual, $"M={m} K={k} N={n} bias={withBias}");
        }
    }

    [Fact]
    public void A_row_comes_out_the_same_bits_whatever_rows_and_threads_share_its_call()
    {
        if (RefusedOnThisCpu())
        {
            return;
        }
        using var scope = NewDisposeScope();
        using var alone = new KernelTeam(1);
        using var team = new KernelTeam(3);
        const int k = 1030, n = 77; // two depth blocks and a cut, three panels and a cut
        var x = torch.randn(45, k); // (45, K)
        var w = torch.randn(n, k);  // (N, K)
        var bias = torch.randn(n);  // (N)
        var whole = torch.empty(45, n);
        PackedLinearKernel.Float32(Ptr(x), 45, k, Ptr(w), n, Ptr(bias), Ptr(whole), alone);
        foreach (var (first, count) in new[] { (0, 1), (13, 8), (20, 25), (3, 33) })
        {
            var part = torch.empty(count, n);
            var rows = x.narrow(0, first, count).contiguous();
            PackedLinearKernel.Float32(Ptr(rows), count, k, Ptr(w), n, Ptr(bias), Ptr(part), team);
            var differing = part.ne(whole.narrow(0, first, count)).sum().item<long>();
            Assert.True(differing == 0, $"rows {first}..{first + count - 1} alone on 3 threads: {differing} of {count * n} outputs differ from the same rows among 45 on one thread");
        }
    }

    [Fact]
    public void Bad_sizes_fail_naming_the_argument_and_value()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => PackedLinearKernel.Float32(null, 4, 0, null, 4, null, null));
        Assert.Contains("inFeatures must be at least 1, was 0", error.Message);
        error = Assert.Throws<ArgumentOutOfRangeException>(() => PackedLinearKernel.Float32(null, 4, 4, null, -1, null, null));
        Assert.Contains("outFeatures must be at least 1, was -1", error.Message);
    }

    /// <summary>On a CPU without AVX-512 the kernel refuses, naming what it needs (Linear keeps libtorch's product there).</summary>
    private static bool RefusedOnThisCpu()
    {
        if (PackedLinearKernel.IsSupported)
        {
            return false;
        }
        var refused = Assert.Throws<PlatformNotSupportedException>(() => PackedLinearKernel.Float32(null, 1, 1, null, 1, null, null));
        Assert.Contains("AVX-512F", refused.Message);
        return true;
    }

    private static float* Ptr(Tensor t) => (float*)TensorMemory.Address(t);
}
