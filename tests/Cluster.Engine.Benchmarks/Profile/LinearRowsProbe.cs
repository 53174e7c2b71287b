using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Testing;

namespace Cluster.Engine.Benchmarks.Profile;

/// <summary>
/// Which product is fastest at which row count (<c>linear-rows [--weight-dtype float32|bfloat16]</c>): the 48 linear
/// layers of issue #12's model (<see cref="ModelParts.LinearLayers"/>) on N rows, through our decode kernel
/// (<c>LinearKernel</c>), through libtorch (fp32: oneMKL, bf16: oneDNN), and, for fp32 weights on AVX-512, through
/// <c>PackedLinearKernel</c>; the crossovers in <see cref="LinearCrossover"/> and <see cref="Linear"/> come from here.
/// Median of 9 timings per cell.
/// </summary>
internal static class LinearRowsProbe
{
    public static void Run(string[] args)
    {
        var dtype = ProfileOptions.String(args, "--weight-dtype", "float32");
        var options = new EngineOptions { Device = "cpu", DType = "float32", WeightDType = dtype };
        using var parts = ModelParts.Load(BenchmarkCheckpoints.Llama124MDirectory(), options);
        var (float32Rows, bfloat16Rows) = (LinearCrossover.Float32Rows, LinearCrossover.BFloat16Rows);
        // fp32 past the decode kernel's rows is the packed product; bf16 past them is oneDNN's.
        string[] modes = dtype == "float32" ? ["decode kernel", "oneMKL", "packed product"] : ["decode kernel", "oneDNN"];
        Console.WriteLine($"48 linear layers of issue #12's model, {dtype} weights, ms (median of 9), the 48 layers / the LM head: rows | {string.Join(" | ", modes)}");
        foreach (var rows in new[] { 8, 16, 24, 32, 40, 48, 64, 128, 512 })
        {
            var cells = new List<string>();
            foreach (var mode in modes)
            {
                var kernel = mode == "decode kernel";
                LinearCrossover.Float32Rows = kernel ? int.MaxValue : 0;
                LinearCrossover.BFloat16Rows = kernel ? int.MaxValue : 0;
                LinearCrossover.PackedFloat32 = mode == "packed product";
                var times = Enumerable.Range(0, 9).Select(_ => parts.LinearLayers(rows)).Order().ToArray();
                var head = Enumerable.Range(0, 9).Select(_ => parts.LmHead(rows)).Order().ToArray();
                cells.Add($"{times[4]:F2} / {head[4]:F2}");
            }
            Console.WriteLine($"{rows} | {string.Join(" | ", cells)}");
        }
        (LinearCrossover.Float32Rows, LinearCrossover.BFloat16Rows, LinearCrossover.PackedFloat32) = (float32Rows, bfloat16Rows, true);
    }
}
