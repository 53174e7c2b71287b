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

    /// <summary>
    /// The dtype of the weight matrices (projections, feed-forward, LM head): <c>auto</c> (the same as
    /// <see cref="DType"/>), <c>float32</c>, <c>bfloat16</c> or <c>int8</c>. <c>bfloat16</c> with fp32 <see cref="DType"/>
    /// keeps activations, embeddings, norms and the KV cache in fp32 and halves the bytes a decode step reads.
    /// <c>int8</c> (CPU, fp32 <see cref="DType"/>) quantizes the matrices as llama.cpp's Q8_0 does (blocks of 32, an
    /// fp16 scale each) and multiplies them with 8-bit activations: 8.5 bits a weight, the embedding table kept fp32.
    /// </summary>
    public string WeightDType { get; init; } = "auto";

    /// <summary>
    /// The dtype of the KV cache: <c>auto</c> (the same as <see cref="DType"/>), <c>float32</c> or <c>bfloat16</c>.
    /// <c>bfloat16</c> with fp32 <see cref="DType"/> halves the cache's bytes (twice the sequences in the same budget,
    /// half the bytes a decode step's attention reads), rounding each key and value once when it is written;
    /// attention still computes in fp32. llama.cpp's default cache is f16 for the same reasons.
    /// </summary>
    public string KvCacheDType { get; init; } = "auto";

    /// <summary>Intra-op threads for CPU compute; null keeps libtorch's default (one per core).</summary>
    public int? CpuThreads { get; init; }
}
