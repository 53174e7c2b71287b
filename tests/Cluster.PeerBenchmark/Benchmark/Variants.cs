using Cluster.Engine.Configuration;
using Cluster.PeerBenchmark.Gguf;
using Cluster.PeerBenchmark.Runners;

namespace Cluster.PeerBenchmark.Benchmark;

/// <summary>
/// One configuration of our engine in the table. <paramref name="PeerWeights"/> is llama.cpp's like-for-like GGUF
/// precision; <paramref name="Exact"/> marks a variant whose greedy tokens must equal llama.cpp's on that GGUF with
/// an f32 KV cache (fp32 against fp32), checked before anything is timed.
/// </summary>
public sealed record EngineVariant(string Name, EngineOptions Options, GgufWeightType PeerWeights, double BytesPerWeight, bool Exact);

/// <summary>
/// One configuration of our cluster on loopback: <paramref name="Silos"/> silo processes of one stage each and the gateway,
/// its silos set up as engine variant <paramref name="Engine"/> (same precision); its greedy tokens must equal that
/// variant's, and its figures are divided by that variant's (issue #12: the cluster keeps up with the engine).
/// </summary>
public sealed record ClusterVariant(string Name, string Engine, int Silos, IReadOnlyList<string> SiloArguments);

/// <summary>One llama.cpp configuration: the GGUF's weight precision and the context settings.</summary>
public sealed record PeerVariant(GgufWeightType Weights, LlamaCppSettings Settings)
{
    public string Name => $"llama.cpp, {Weights.ToString().ToLowerInvariant()} GGUF, {Settings.Name}";

    public double BytesPerWeight => Weights.ToGgml().BytesPerWeight();
}

public static class Variants
{
    /// <summary>Our engine's rows. Add one line per precision the engine offers.</summary>
    public static IReadOnlyList<EngineVariant> Engines(int threads) =>
    [
        new("ours, fp32 weights", new EngineOptions { Device = "cpu", DType = "float32", CpuThreads = threads }, GgufWeightType.F32, 4, Exact: true),
        new("ours, bf16 weights", new EngineOptions { Device = "cpu", DType = "float32", CpuThreads = threads, WeightDType = "bfloat16" }, GgufWeightType.F16, 2, Exact: false),
        // llama.cpp's defaults keep an f16 cache; this is ours at the same cache size.
        new("ours, bf16 weights, bf16 KV", new EngineOptions { Device = "cpu", DType = "float32", CpuThreads = threads, WeightDType = "bfloat16", KvCacheDType = "bfloat16" },
            GgufWeightType.F16, 2, Exact: false),
        // Q8_0 on both sides: llama.cpp reads the blocks our engine quantized (GgufWriter.Encode), 34 bytes per 32 weights.
        new("ours, int8 weights", new EngineOptions { Device = "cpu", DType = "float32", CpuThreads = threads, WeightDType = "int8" }, GgufWeightType.Q8_0, 34.0 / 32, Exact: false),
        // ... and with llama.cpp's default cache size, like for like with its Q8_0 defaults.
        new("ours, int8 weights, bf16 KV", new EngineOptions { Device = "cpu", DType = "float32", CpuThreads = threads, WeightDType = "int8", KvCacheDType = "bfloat16" },
            GgufWeightType.Q8_0, 34.0 / 32, Exact: false),
    ];

    /// <summary>
    /// Our cluster's rows: one stage on one silo per precision (the compute threads the engine gets), and two stages on
    /// two silos with one thread each (a stage per core of this 2-core machine).
    /// </summary>
    public static IReadOnlyList<ClusterVariant> Clusters(int threads) =>
    [
        new("cluster, 1 stage, fp32 weights", "ours, fp32 weights", 1, [$"--Cluster:Stages:CpuThreads={threads}", "--Cluster:Stages:DType=float32"]),
        new("cluster, 1 stage, bf16 weights", "ours, bf16 weights", 1, [$"--Cluster:Stages:CpuThreads={threads}", "--Cluster:Stages:DType=float32", "--Cluster:Stages:WeightDType=bfloat16"]),
        new("cluster, 1 stage, int8 weights", "ours, int8 weights", 1, [$"--Cluster:Stages:CpuThreads={threads}", "--Cluster:Stages:DType=float32", "--Cluster:Stages:WeightDType=int8"]),
        new("cluster, 2 stages on 2 silos, fp32 weights", "ours, fp32 weights", 2, ["--Cluster:Stages:CpuThreads=1", "--Cluster:Stages:DType=float32"]),
    ];

    /// <summary>
    /// The row of a cluster variant's engine variant timed just before and after the cluster (engine, cluster, cluster,
    /// engine): the reference of the cluster ÷ engine ratio, free of the drift between the engine's pass and the cluster's.
    /// </summary>
    public static string TimedBeside(ClusterVariant cluster) => $"{cluster.Engine}, timed beside {cluster.Name}";

    /// <summary>llama.cpp's rows: fp32 GGUF (like for like with our fp32) and f16 GGUF (like-for-like precision for bf16 weights), each with its defaults and with an f32 KV cache; Q8_0 (like for like with our int8) with its defaults.</summary>
    public static IReadOnlyList<PeerVariant> Peers() =>
    [
        ReferencePeer,
        new(GgufWeightType.F32, LlamaCppSettings.F32KvCache),
        new(GgufWeightType.F16, LlamaCppSettings.Defaults),
        new(GgufWeightType.F16, LlamaCppSettings.F32KvCache),
        new(GgufWeightType.Q8_0, LlamaCppSettings.Defaults),
    ];

    /// <summary>llama.cpp's defaults on the fp32 GGUF: issue #12's reference for every ratio target.</summary>
    public static PeerVariant ReferencePeer { get; } = new(GgufWeightType.F32, LlamaCppSettings.Defaults);

    /// <summary>
    /// The llama.cpp rows an engine variant is divided by: both settings on its like-for-like GGUF, and llama.cpp's
    /// defaults on the fp32 GGUF (issue #12's reference) when the like-for-like GGUF is not fp32.
    /// </summary>
    public static IEnumerable<PeerVariant> RatioPeers(EngineVariant engine, IReadOnlyList<PeerVariant> peers) =>
        peers.Where(p => p.Weights == engine.PeerWeights || p == ReferencePeer);
}
