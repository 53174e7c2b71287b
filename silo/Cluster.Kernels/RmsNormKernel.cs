using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Cluster.Kernels;

/// <summary>
/// RMSNorm of fp32 rows on the host: out = (x · 1/√(mean(x²) + ε)) · weight, row by row, in one pass instead of the
/// five to eight libtorch operations (pow, mean, add, rsqrt, mul, mul) a norm costs, each a fixed dispatch: a decode step
/// has 2 per layer plus the final one. The products keep libtorch's order (x times the inverse RMS, then times the
/// weight); the mean of squares is summed in fp32 lanes, so it agrees with libtorch's reduction within fp32 rounding.
/// </summary>
public static unsafe class RmsNormKernel
{
    /// <param name="x">(rows, width) fp32, each row contiguous, rows <paramref name="rowStride"/> floats apart.</param>
    /// <param name="weight">(width) fp32.</param>
    /// <param name="output">(rows, width) fp32, contiguous.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    public static void Run(nint x, long rowStride, nint weight, nint output, int rows, int width, float epsilon)
    {
        if (rows < 0 || width < 1 || rowStride < width)
        {
            throw new ArgumentException($"RMSNorm needs rows >= 0, width >= 1 and a row stride of at least the width; got rows {rows}, width {width}, stride {rowStride}.");
        }
        var w = (float*)weight;
        for (var r = 0; r < rows; r++)
        {
            var row = (float*)x + r * rowStride;
            var result = (float*)output + (long)r * width;
            var inverseRms = 1f / MathF.Sqrt(SumOfSquares(row, width) / width + epsilon);
            var i = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var scale = Vector512.Create(inverseRms);
                for (; i <= width - Vector512<float>.Count; i += Vector512<float>.Count)
                {
                    (Vector512.Load(row + i) * scale * Vector512.Load(w + i)).Store(result + i);
                }
            }
            for (; i < width; i++)
            {
                result[i] = row[i] * inverseRms * w[i];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static float SumOfSquares(float* row, int width)
    {
        var i = 0;
        var sum = 0f;
        if (Vector512.IsHardwareAccelerated && width >= Vector512<float>.Count)
        {
            var acc = Vector512<float>.Zero;
            for (; i <= width - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var v = Vector512.Load(row + i);
                acc += v * v;
            }
            sum = Vector512.Sum(acc);
        }
        for (; i < width; i++)
        {
            sum += row[i] * row[i];
        }
        return sum;
    }
}
