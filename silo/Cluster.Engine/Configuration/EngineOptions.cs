namespace Cluster.Engine.Configuration;

/// <summary>Where and in which precision the engine computes. Bound from configuration by the hosts.</summary>
public sealed record EngineOptions
{
    /// <summary><c>cpu</c>, <c>cuda</c>, <c>cuda:N</c> or <c>auto</c> (CUDA when available, else CPU).</summary>
    public string Device { get; init; } = "auto";

    /// <summary>
    /// <c>auto</c> (fp32 on CPU, bf16 on CUDA), <c>float32</c>, <c>bfloat16</c> or <c>float16</c>.
    /// Weights are converted from their on-disk dtype to this one while loading.
    /// </summary>
    public string DType { get; init; } = "auto";

    /// <summary>Intra-op threads for CPU compute; null keeps libtorch's default (one per core).</summary>
    public int? CpuThreads { get; init; }
}
