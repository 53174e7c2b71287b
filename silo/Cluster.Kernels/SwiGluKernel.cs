using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Cluster.Kernels;

/// <summary>
/// SwiGLU's gate on fp32 rows on the host: out[r, i] = silu(g) · u with g = gateUp[r, i], u = gateUp[r, I + i] (the fused
/// gate/up projection's two halves) and silu(g) = g / (1 + exp(−g)), libtorch's formula. One pass instead of libtorch's
/// silu and mul, each of which at 8–32 decode rows (65k elements and up) is split over OpenMP threads that sleep between
/// operations under the engine's passive wait policy: waking them cost ~0.5 ms a layer, more than the work.
/// Each element is computed alone, so the result does not depend on the rows in the batch or on the split.
/// </summary>
public static unsafe class SwiGluKernel
{
    // Elements below which waking the team costs more than it saves.
    private const long MinimumElementsPerPart = 256 * 1024;

    /// <summary>Tests turn this off to check the scalar path on hardware that has vectors.</summary>
    internal static bool UseVectors { get; set; } = true;

    /// <param name="gateUp">(rows, 2·intermediate) fp32, row-major: gate in the first half of a row, up in the second.</param>
    /// <param name="output">(rows, intermediate) fp32, row-major.</param>
    public static void Run(nint gateUp, nint output, int rows, int intermediate, KernelTeam? team = null)
    {
        if (rows < 0 || intermediate < 1)
        {
            throw new ArgumentException($"SwiGLU needs rows >= 0 and an intermediate width >= 1; got rows {rows}, width {intermediate}.");
        }
        var job = new Job { GateUp = (float*)gateUp, Output = (float*)output, Rows = rows, Intermediate = intermediate };
        var runner = team ?? KernelTeam.Shared;
        var parts = (int)Math.Clamp((long)rows * intermediate / MinimumElementsPerPart, 1, Math.Min(runner.Threads, Math.Max(rows, 1)));
        runner.Run(&RunPart, &job, parts);
    }

    private struct Job
    {
        public float* GateUp, Output;
        public int Rows, Intermediate;
    }

    /// <summary>Part <paramref name="part"/> of <paramref name="parts"/>: an equal share of the rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static void RunPart(void* state, int part, int parts)
    {
        ref var job = ref *(Job*)state;
        var width = job.Intermediate;
        for (var r = (int)((long)job.Rows * part / parts); r < (int)((long)job.Rows * (part + 1) / parts); r++)
        {
            var gate = job.GateUp + 2L * r * width;
            var up = gate + width;
            var result = job.Output + (long)r * width;
            var i = 0;
            if (UseVectors && Vector512.IsHardwareAccelerated)
            {
                var one = Vector512<float>.One;
                for (; i <= width - Vector512<float>.Count; i += Vector512<float>.Count)
                {
                    var g = Vector512.Load(gate + i);
                    (g / (one + Vector512.Exp(-g)) * Vector512.Load(up + i)).Store(result + i);
                }
            }
            for (; i < width; i++)
            {
                result[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
            }
        }
    }
}
