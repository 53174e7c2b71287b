using Cluster.Engine.Configuration;
using Cluster.PeerBenchmark.Gguf;
using Cluster.PeerBenchmark.Runners;

namespace Cluster.PeerBenchmark.Benchmark;

/// <summary>
/// One configuration of our engine in the table. <paramref name="PeerWeights"/> is llama.cpp's like-for-like GGUF
/// precision; <paramref name="Exact"/> marks a variant whose greedy tokens must equal llama.cpp's on that GGUF with
/// an f32 KV cache (fp32 against fp32), checked before anything is timed.
/// </summary>
public sealed record EngineVariant(string Name, EngineOptions Options, GgufWeightType PeerWeights, int BytesPerWeight, bool Exact);

/// <summary>One llama.cpp configuration: the GGUF's weight precision and the context settings.</summary>
public sealed record PeerVariant(GgufWeightType Weights, LlamaCppSettings Settings)
{
    public string Name => $"llama.cpp, {Weights.ToString().ToLowerInvariant()} GGUF, {Settings.Name}";

    public int BytesPerWeight => Weights.ToGgml().BytesPerElement();
}

public static class Variants
{
    /// <summary>Our engine's rows. Add one line per precision the engine offers.</summary>
    public static IReadOnlyList<EngineVariant> Engines(int threads) =>
    [
        new("ours, fp32 weights", new EngineOptions { Device = "cpu", DType = "float32", CpuThreads = threads }, GgufWeightType.F32, 4, Exact: true),
        new("ours, bf16 weights", new EngineOptions { Device = "cpu", DType = "float32", CpuThreads = threads, WeightDType = "bfloat16" }, GgufWeightType.F16, 2, Exact: false),
    ];

    /// <summary>llama.cpp's rows: fp32 GGUF (like for like with our fp32) and f16 GGUF (like-for-like precision for bf16 weights), each with its defaults and with an f32 KV cache.</summary>
    public static IReadOnlyList<PeerVariant> Peers() =>
    [
        new(GgufWeightType.F32, LlamaCppSettings.Defaults),
        new(GgufWeightType.F32, LlamaCppSettings.F32KvCache),
        new(GgufWeightType.F16, LlamaCppSettings.Defaults),
        new(GgufWeightType.F16, LlamaCppSettings.F32KvCache),
    ];

    /// <summary>
    /// The llama.cpp rows an engine variant is divided by: both settings on its like-for-like GGUF, and llama.cpp's
    /// defaults on the fp32 GGUF (issue #12's reference) when the like-for-like GGUF is not fp32.
    /// </summary>
    public static IEnumerable<PeerVariant> RatioPeers(EngineVariant engine, IReadOnlyList<PeerVariant> peers) =>
        peers.Where(p => p.Weights == engine.PeerWeights || (p.Weights == GgufWeightType.F32 && p.Settings == LlamaCppSettings.Defaults));
}
