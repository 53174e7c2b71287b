using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// Up to how many rows <see cref="Linear"/> runs its own kernel rather than libtorch's, per weight dtype.
/// Measured with tests/Cluster.Engine.Benchmarks LinearLayersBenchmarks on the 49 matrices of a
/// GPT-2-small-sized Llama (2-core AMD EPYC with AVX-512 BF16, see docs/PERFORMANCE.md): the kernel reads W
/// once per call, so it wins while the batch is small; libtorch's blocked GEMMs win on prefill-sized batches,
/// and oneDNN's AVX512-BF16 instructions (2 products per lane) overtake the widening bf16 kernel sooner.
/// </summary>
public static class LinearCrossover
{
    /// <summary>Rows up to which fp32 weights use the kernel.</summary>
    public static int Float32Rows { get; set; } = 64;

    /// <summary>Rows up to which bf16 weights use the kernel.</summary>
    public static int BFloat16Rows { get; set; } = 8;

    /// <summary>The crossover for weights of <paramref name="weightDType"/>; 0 (never) for other dtypes.</summary>
    public static int KernelMaxRows(ScalarType weightDType) => weightDType switch
    {
        ScalarType.Float32 => Float32Rows,
        ScalarType.BFloat16 => BFloat16Rows,
        _ => 0,
    };
}
