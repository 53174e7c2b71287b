using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Kernels.Tests;

/// <summary>
/// The SwiGLU gate kernel against libtorch's silu(gate) · up on the same fused rows: widths that are not multiples of
/// the vector width, one row and many, both the vector and the scalar code, and the same bits however the rows are split.
/// </summary>
public sealed class SwiGluKernelTests
{
    // exp and the division differ from libtorch's by an ulp or so: an error relative to |expected| + 1 of a few ulp (1.2e-7 each).
    private const float Tolerance = 4e-7f;

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 2048)]
    [InlineData(3, 17)]
    [InlineData(8, 2048)]
    [InlineData(32, 2048)]
    [InlineData(300, 1000)] // enough elements to split over the team
    public void Matches_libtorch(int rows, int intermediate)
    {
        Check(rows, intermediate);
        SwiGluKernel.UseVectors = false;
        try
        {
            Check(rows, intermediate);
        }
        finally
        {
            SwiGluKernel.UseVectors = true;
        }
    }

    [Fact]
    public void Splitting_the_rows_over_threads_gives_bit_identical_outputs()
    {
        var gateUp = Randoms(512 * 2 * 1024, seed: 3);
        using var one = new KernelTeam(1);
        using var two = new KernelTeam(2);
        var alone = Run(gateUp, 512, 1024, one);
        var split = Run(gateUp, 512, 1024, two);
        for (var i = 0; i < alone.Length; i++)
        {
            Assert.True(alone[i] == split[i], $"Output {i}: one thread gave {alone[i]}, two gave {split[i]}.");
        }
    }

    private static void Check(int rows, int intermediate)
    {
        var gateUp = Randoms(rows * 2 * intermediate, seed: rows * 31 + intermediate);
        var actual = Run(gateUp, rows, intermediate, team: null);
        using var scope = torch.NewDisposeScope();
        var fused = torch.tensor(gateUp, [rows, 2 * intermediate]);                        // (rows, 2I)
        var expected = nn.functional.silu(fused.narrow(1, 0, intermediate)).mul(fused.narrow(1, intermediate, intermediate)); // (rows, I)
        var difference = ((torch.tensor(actual, [rows, intermediate]) - expected).abs() / (expected.abs() + 1)).max().item<float>();
        Assert.True(difference <= Tolerance,
            $"rows {rows}, width {intermediate}, vectors {SwiGluKernel.UseVectors}: the kernel differs from libtorch by {difference} relative to |expected| + 1 (tolerance {Tolerance}).");
    }

    private static float[] Run(float[] gateUp, int rows, int intermediate, KernelTeam? team)
    {
        var output = new float[rows * intermediate];
        var (input, result) = (GCHandle.Alloc(gateUp, GCHandleType.Pinned), GCHandle.Alloc(output, GCHandleType.Pinned));
        try
        {
            SwiGluKernel.Run(input.AddrOfPinnedObject(), result.AddrOfPinnedObject(), rows, intermediate, team);
        }
        finally
        {
            input.Free();
            result.Free();
        }
        return output;
    }

    private static float[] Randoms(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 12 - 6)).ToArray();
    }
}
