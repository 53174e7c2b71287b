using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Cluster.PeerBenchmark.Benchmark;

/// <summary>
/// The machine's memory read bandwidth as a decode step sees it: a sum over an array far larger than the caches,
/// split over the benchmark's threads, best of several passes. Batch-1 decode reads every weight once per token, so
/// weight bytes ÷ this bandwidth is the fastest a step can be.
/// </summary>
public static class MemoryBandwidth
{
    public static double ReadGigabytesPerSecond(int threads, long bytes = 1L << 30, int passes = 5)
    {
        var data = GC.AllocateUninitializedArray<float>((int)(bytes / sizeof(float)));
        data.AsSpan().Fill(1f); // touch every page before timing
        var partials = new float[threads];
        var best = double.MaxValue;
        for (var pass = 0; pass < passes; pass++)
        {
            var clock = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                var slice = data.Length / threads;
                var start = t * slice;
                var length = t == threads - 1 ? data.Length - start : slice;
                partials[t] = Sum(data.AsSpan(start, length));
            });
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        if (partials.Sum() != data.Length)
        {
            throw new InvalidOperationException($"The bandwidth sum read {partials.Sum()} instead of {data.Length}: the measurement skipped memory.");
        }
        return bytes / best / 1e9;
    }

    // Four independent accumulators keep several loads in flight, so the loop is bound by memory, not by add latency.
    // Fully optimized from the first call: the measurement runs too few times for tiered compilation to promote it.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Sum(ReadOnlySpan<float> values)
    {
        var vectors = MemoryMarshal.Cast<float, Vector256<float>>(values);
        Vector256<float> a = default, b = default, c = default, d = default;
        var i = 0;
        for (; i + 4 <= vectors.Length; i += 4)
        {
            a += vectors[i];
            b += vectors[i + 1];
            c += vectors[i + 2];
            d += vectors[i + 3];
        }
        for (; i < vectors.Length; i++)
        {
            a += vectors[i];
        }
        var total = Vector256.Sum(a + b + c + d);
        for (var j = vectors.Length * Vector256<float>.Count; j < values.Length; j++)
        {
            total += values[j];
        }
        return total;
    }
}
