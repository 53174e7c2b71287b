using LLama.Common;
using LLama.Native;

namespace Cluster.PeerBenchmark.Runners;

/// <summary>
/// The llama.cpp context settings the benchmark compares against. <see cref="Defaults"/> leaves the KV cache type and
/// flash attention to llama.cpp (f16 cache; flash attention where it decides to use it); <see cref="F32KvCache"/>
/// stores keys and values in fp32 without flash attention, the setting under which batched sequences keep their
/// solo greedy tokens.
/// </summary>
public sealed record LlamaCppSettings(string Name, bool F32Kv)
{
    public static readonly LlamaCppSettings Defaults = new("defaults", false);
    public static readonly LlamaCppSettings F32KvCache = new("f32 KV, no flash attention", true);

    /// <summary>Context parameters for <paramref name="sequences"/> sequences of up to <paramref name="tokensPerSequence"/> tokens, fed at most <paramref name="batchTokens"/> tokens per decode.</summary>
    public ModelParams ContextParams(string ggufPath, int threads, int sequences, int tokensPerSequence, int batchTokens)
    {
        var p = new ModelParams(ggufPath)
        {
            GpuLayerCount = 0,
            Threads = threads,
            BatchThreads = threads,
            // Room for every sequence whether llama.cpp keeps one unified cache or one stream per sequence.
            ContextSize = (uint)(sequences * tokensPerSequence),
            SeqMax = (uint)sequences,
            BatchSize = (uint)Math.Max(batchTokens, 1),
        };
        if (F32Kv)
        {
            p.TypeK = GGMLType.GGML_TYPE_F32;
            p.TypeV = GGMLType.GGML_TYPE_F32;
            p.FlashAttention = false;
        }
        return p;
    }
}
