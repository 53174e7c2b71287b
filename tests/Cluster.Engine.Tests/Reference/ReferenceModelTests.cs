namespace Cluster.Engine.Tests.Reference;

/// <summary>
/// The reference forward (a separately written double-precision model) checked by hand: the safetensors reader, each
/// building block, whole Llama and GPT-2 models. One partial file per section; the shared helpers are here.
/// </summary>
public partial class ReferenceModelTests
{
    private const double Tolerance = 1e-9;

    private static string NewTempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "reference-st-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static double[] Rms(double[] x, double[] w)
    {
        double rms = Math.Sqrt(x.Sum(v => v * v) / x.Length + 1e-5);
        return x.Select((v, j) => v / rms * w[j]).ToArray();
    }

    private static double[] Ln(double[] x, double[] w, double[] b)
    {
        double mean = x.Average();
        double variance = x.Sum(v => (v - mean) * (v - mean)) / x.Length;
        return x.Select((v, j) => (v - mean) / Math.Sqrt(variance + 1e-5) * w[j] + b[j]).ToArray();
    }

    /// <summary>(rows, x.Length) row-major matrix times x.</summary>
    private static double[] MatVec(double[] matrix, double[] x, int rows)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < x.Length; c++)
            {
                y[r] += matrix[r * x.Length + c] * x[c];
            }
        }
        return y;
    }

    private static void AssertClose(IReadOnlyList<double> expected, IReadOnlyList<double> actual, double tolerance = Tolerance)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance,
                $"index {i}: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }
}
