using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// Up to how many rows <see cref="Linear"/> runs its own kernel rather than libtorch's, per weight dtype.
/// Measured with tests/Cluster.Engine.Benchmarks LinearLayersBenchmarks on the 49 matrices of a
/// GPT-2-small-sized Llama (2-core AMD EPYC with AVX-512 BF16; noisy, other builds on the cores; libtorch's
/// OpenMP threads passive, see OpenMpWaitPolicy): fp32 weights, the kernel 38 / 118 / 212 ms at 1 / 8 / 32 rows
/// against libtorch's 40 / 273 / 353, so the kernel up to 32 (past 32 unmeasured; prefill goes to libtorch's
/// blocked GEMMs). bf16 weights, the kernel 25 / 125 / 182 ms against oneDNN's AVX512-BF16 path at 34 / 71 / 88:
/// the widening kernel wins at 1 row and loses by 8, so the crossover sits in between, at 4 (unmeasured there).
/// Settable for benchmarks.
/// </summary>
public static class LinearCrossover
{
    /// <summary>Rows up to which fp32 weights use the kernel.</summary>
    public static int Float32Rows { get; set; } = 32;

    /// <summary>Rows up to which bf16 weights use the kernel.</summary>
    public static int BFloat16Rows { get; set; } = 4;

    /// <summary>The crossover for weights of <paramref name="weightDType"/>; 0 (never) for other dtypes.</summary>
    public static int KernelMaxRows(ScalarType weightDType) => weightDType switch
    {
        ScalarType.Float32 => Float32Rows,
        ScalarType.BFloat16 => BFloat16Rows,
        _ => 0,
    };
}
