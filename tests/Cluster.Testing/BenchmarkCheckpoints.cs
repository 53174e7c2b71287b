namespace Cluster.Testing;

/// <summary>
/// The checkpoints the speed benchmarks share (engine profile, kernels, llama.cpp side by side), written once into the
/// temp folder and reused: random weights in real Hugging Face layout, so they load through the normal loader.
/// </summary>
public static class BenchmarkCheckpoints
{
    /// <summary>
    /// Issue #12's model: a GPT-2-small-sized Llama (12 layers, width 768, 12 heads, SwiGLU 2048, vocabulary 50257,
    /// tied embeddings, fp32: 123.5 M weights, 494 MB), with the GPT-2 byte-level BPE tokenizer files.
    /// </summary>
    public static readonly TinyModelOptions Llama124M = TinyModelOptions.Llama with
    {
        VocabularySize = 50257,
        HiddenSize = 768,
        LayerCount = 12,
        HeadCount = 12,
        KeyValueHeadCount = 12,
        IntermediateSize = 2048,
        MaxPositionEmbeddings = 2048,
        TieWordEmbeddings = true,
        Tokenizer = TinyTokenizer.Gpt2Bpe,
        Seed = 12,
    };

    /// <summary>Bytes of weights a batch-1 decode step reads at <paramref name="bytesPerWeight"/>: every matrix once (the tied head reuses the embedding).</summary>
    public static long DecodeWeightBytes(TinyModelOptions o, int bytesPerWeight = 4)
    {
        long h = o.HiddenSize, i = o.IntermediateSize;
        var kv = (long)o.KeyValueHeadCount * (o.HeadDimension ?? o.HiddenSize / o.HeadCount);
        var perLayer = h * (h + 2 * kv) + h * h + 3 * h * i + 2 * h;
        return bytesPerWeight * (o.VocabularySize * h + o.LayerCount * perLayer + h);
    }

    /// <summary>The checkpoint of <paramref name="options"/> in the temp folder under <paramref name="name"/>, written on first use.</summary>
    public static string EnsureWritten(string name, TinyModelOptions options)
    {
        var dir = Path.Combine(Path.GetTempPath(), name);
        if (!File.Exists(Path.Combine(dir, "config.json")))
        {
            var partial = dir + ".partial." + Environment.ProcessId;
            if (Directory.Exists(partial))
            {
                Directory.Delete(partial, recursive: true);
            }
            TinyCheckpoint.Write(partial, options);
            try
            {
                Directory.Move(partial, dir);
            }
            catch (IOException) when (File.Exists(Path.Combine(dir, "config.json")))
            {
                Directory.Delete(partial, recursive: true); // another process wrote it first
            }
        }
        return dir;
    }

    /// <summary>Issue #12's model, written once: <c>/tmp/cluster-bench-llama-124m</c>.</summary>
    public static string Llama124MDirectory() => EnsureWritten("cluster-bench-llama-124m", Llama124M);

    /// <summary>
    /// SmolLM2-135M's shape with random weights: 30 layers, width 576, 9 query heads sharing 3 KV heads (grouped-query
    /// attention, as the checkpoints our users run), SwiGLU 1536, vocabulary 49152, tied embeddings; no tokenizer.
    /// </summary>
    public static readonly TinyModelOptions SmolLM2_135M = TinyModelOptions.Llama with
    {
        VocabularySize = 49152,
        HiddenSize = 576,
        LayerCount = 30,
        HeadCount = 9,
        KeyValueHeadCount = 3,
        IntermediateSize = 1536,
        MaxPositionEmbeddings = 8192,
        RopeTheta = 100000.0,
        TieWordEmbeddings = true,
        Seed = 135,
    };

    /// <summary>The SmolLM2-135M-shaped model, written once: <c>/tmp/cluster-bench-smollm2-135m</c>.</summary>
    public static string SmolLM2_135MDirectory() => EnsureWritten("cluster-bench-smollm2-135m", SmolLM2_135M);
}
