using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Testing;

namespace Cluster.Engine.Benchmarks;

/// <summary>A random GPT-2-small-sized checkpoint (124M parameters, fp32), written once to the temp folder and reused.</summary>
internal static class Gpt2SmallCheckpoint
{
    public static readonly TinyModelOptions Options = TinyModelOptions.Gpt2 with
    {
        VocabularySize = 50257,
        HiddenSize = 768,
        LayerCount = 12,
        HeadCount = 12,
        KeyValueHeadCount = 12,
        IntermediateSize = 3072,
        MaxPositionEmbeddings = 1024,
        Seed = 124,
    };

    /// <summary>Bytes of fp32 weights a decode step reads: every parameter (the tied head reuses wte).</summary>
    public static long WeightBytes()
    {
        var o = Options;
        long h = o.HiddenSize, i = o.IntermediateSize;
        var perLayer = 2 * h + (h * 3 * h + 3 * h) + (h * h + h) + 2 * h + (h * i + i) + (i * h + h);
        return 4 * (o.VocabularySize * h + o.MaxPositionEmbeddings * h + o.LayerCount * perLayer + 2 * h);
    }

    public static ModelShard Load() =>
        ModelShard.Load(EnsureWritten(), options: new EngineOptions { Device = "cpu", DType = "float32" });

    /// <summary>Deterministic token ids spread over the vocabulary.</summary>
    public static int[] Tokens(int count) => Enumerable.Range(0, count).Select(i => i * 7919 % 50000).ToArray();

    public static string EnsureWritten()
    {
        var dir = Path.Combine(Path.GetTempPath(), "cluster-bench-gpt2-small-124m");
        if (!File.Exists(Path.Combine(dir, "config.json")))
        {
            var partial = dir + ".partial";
            if (Directory.Exists(partial))
            {
                Directory.Delete(partial, recursive: true);
            }
            TinyCheckpoint.Write(partial, Options);
            Directory.Move(partial, dir);
        }
        return dir;
    }
}
