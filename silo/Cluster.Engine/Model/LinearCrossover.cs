using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// Up to how many rows <see cref="Linear"/> runs its own kernel rather than libtorch's, per weight dtype.
/// Measured with tests/Cluster.Engine.Benchmarks LinearLayersBenchmarks on the 49 matrices of a
/// GPT-2-small-sized Llama (2-core AMD EPYC with AVX-512 BF16; a noisy run, other builds on the cores): the
/// kernel was faster than libtorch at 1, 8 and 32 rows for both dtypes (fp32 55 / 116 / 166 ms against
/// 78 / 866 / 918; bf16 33 / 188 / 102 against 677 / 362 / 557). Past 32 rows it is unmeasured, and prefill-sized
/// batches go to libtorch's blocked GEMMs (oneDNN's AVX512-BF16 for bf16 weights). Settable for benchmarks.
/// </summary>
public static class LinearCrossover
{
    /// <summary>Rows up to which fp32 weights use the kernel.</summary>
    public static int Float32Rows { get; set; } = 32;

    /// <summary>Rows up to which bf16 weights use the kernel.</summary>
    public static int BFloat16Rows { get; set; } = 32;

    /// <summary>The crossover for weights of <paramref name="weightDType"/>; 0 (never) for other dtypes.</summary>
    public static int KernelMaxRows(ScalarType weightDType) => weightDType switch
    {
        ScalarType.Float32 => Float32Rows,
        ScalarType.BFloat16 => BFloat16Rows,
        _ => 0,
    };
}
