using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// Up to how many rows <see cref="Linear"/> runs its own kernel rather than libtorch's, per weight dtype.
/// Measured on the 49 matrices of a GPT-2-small-sized Llama (2-core AMD EPYC with AVX-512 BF16; libtorch's OpenMP
/// threads passive, see OpenMpWaitPolicy). fp32 weights: the kernel 38 / 118 / 212 ms at 1 / 8 / 32 rows against
/// libtorch's 40 / 273 / 353 (LinearLayersBenchmarks), so the kernel up to 32; past 32 the packed product
/// (PackedLinearKernel, AVX-512), which already wins from 24 rows (`Cluster.Engine.Benchmarks linear-rows`: 26 against
/// 29 ms at 24, 30 against 37 at 32) but sums each element in another order: from 2 to 32 rows the kernel's tall tiles
/// share one order, so a decode row comes out the same bits in any batch of 2 to 32 sequences, and the crossover stays
/// at 32. bf16 weights, the whole decode step (`Cluster.Engine.Benchmarks profile
/// --weight-dtype bfloat16 --bf16-kernel-rows 4|32`, two runs each, 6 December 2026): with the kernel 28-29 / 39-42 /
/// 41-43 / 54-59 / 78-79 ms at 8 / 12 / 16 / 24 / 32 rows, with oneDNN's AVX512-BF16 path 42-46 / 42-47 / 45-50 /
/// 55-57 / 73-82: the kernel wins up to 16 rows and ties past them (oneDNN's dot product does twice the work per
/// instruction, but wakes libtorch's sleeping threads on every call), so the crossover sits at 16.
/// Settable for benchmarks.
/// </summary>
public static class LinearCrossover
{
    /// <summary>Rows up to which fp32 weights use the kernel.</summary>
    public static int Float32Rows { get; set; } = 32;

    /// <summary>Rows up to which bf16 weights use the kernel.</summary>
    public static int BFloat16Rows { get; set; } = 16;

    /// <summary>
    /// Whether fp32 weights past <see cref="Float32Rows"/> run <c>PackedLinearKernel</c> (on AVX-512 CPUs) rather than
    /// libtorch's oneMKL product: 2.1-2.4× faster on the model's shapes at 512 rows, a tie at 40, ahead from 48
    /// (`Cluster.Engine.Benchmarks linear-rows`, docs/PERFORMANCE.md). Off only to measure the difference.
    /// </summary>
    public static bool PackedFloat32 { get; set; } = true;

    /// <summary>The crossover for weights of <paramref name="weightDType"/>; 0 (never) for other dtypes.</summary>
    public static int KernelMaxRows(ScalarType weightDType) => weightDType switch
    {
        ScalarType.Float32 => Float32Rows,
        ScalarType.BFloat16 => BFloat16Rows,
        _ => 0,
    };
}
