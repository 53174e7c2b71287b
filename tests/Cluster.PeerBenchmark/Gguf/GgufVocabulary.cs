using System.Text.Json;

namespace Cluster.PeerBenchmark.Gguf;

/// <summary>
/// The tokenizer section of the GGUF. The benchmark feeds token ids straight to llama.cpp, so the vocabulary only
/// has to load: with GPT-2 BPE files (vocab.json + merges.txt) it is the real one (tokenizer.ggml.model "gpt2");
/// without tokenizer files, a placeholder vocabulary of the model's size ("llama", one piece per id), which
/// llama.cpp loads with a warning about the missing newline piece.
/// </summary>
public static class GgufVocabulary
{
    // llama.cpp's token types (llama_token_type): 1 normal, 2 unknown, 3 control, 5 unused.
    private const int Normal = 1, Unknown = 2, Control = 3, Unused = 5;

    public static void Write(GgufWriter gguf, string checkpointDirectory, HfLlamaConfig config)
    {
        var vocabPath = Path.Combine(checkpointDirectory, "vocab.json");
        var mergesPath = Path.Combine(checkpointDirectory, "merges.txt");
        if (File.Exists(vocabPath) && File.Exists(mergesPath))
        {
            WriteGpt2(gguf, vocabPath, mergesPath, config);
        }
        else
        {
            WritePlaceholder(gguf, config);
        }
        if (config.BosTokenId is { } bos)
        {
            gguf.Add("tokenizer.ggml.bos_token_id", (uint)bos);
        }
        if (config.EosTokenId is { } eos)
        {
            gguf.Add("tokenizer.ggml.eos_token_id", (uint)eos);
        }
        gguf.Add("tokenizer.ggml.add_bos_token", false);
    }

    private static void WriteGpt2(GgufWriter gguf, string vocabPath, string mergesPath, HfLlamaConfig config)
    {
        var tokens = new string?[config.VocabularySize];
        using (var doc = JsonDocument.Parse(File.ReadAllText(vocabPath)))
        {
            foreach (var piece in doc.RootElement.EnumerateObject())
            {
                var id = piece.Value.GetInt32();
                if ((uint)id >= (uint)tokens.Length)
                {
                    throw new GgufConversionException($"{vocabPath}: piece \"{piece.Name}\" has id {id}, outside the model's vocabulary [0, {tokens.Length}).");
                }
                tokens[id] = piece.Name;
            }
        }
        var special = new HashSet<int?> { config.BosTokenId, config.EosTokenId };
        var types = new int[tokens.Length];
        for (var id = 0; id < tokens.Length; id++)
        {
            // Ids the tokenizer does not cover are padding rows of the embedding, as llama.cpp's converter writes them.
            types[id] = tokens[id] is null ? Unused : special.Contains(id) ? Control : Normal;
            tokens[id] ??= $"[PAD{id}]";
        }
        var merges = File.ReadLines(mergesPath).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();
        gguf.Add("tokenizer.ggml.model", "gpt2");
        gguf.Add("tokenizer.ggml.pre", "gpt-2");
        gguf.AddArray("tokenizer.ggml.tokens", tokens!);
        gguf.AddArray("tokenizer.ggml.token_type", types);
        gguf.AddArray("tokenizer.ggml.merges", merges);
    }

    private static void WritePlaceholder(GgufWriter gguf, HfLlamaConfig config)
    {
        var tokens = new string[config.VocabularySize];
        var types = new int[config.VocabularySize];
        for (var id = 0; id < tokens.Length; id++)
        {
            tokens[id] = $"<t{id}>";
            types[id] = id == 0 ? Unknown : id == config.BosTokenId || id == config.EosTokenId ? Control : Normal;
        }
        gguf.Add("tokenizer.ggml.model", "llama");
        gguf.AddArray("tokenizer.ggml.tokens", tokens);
        gguf.AddArray("tokenizer.ggml.scores", new float[tokens.Length]);
        gguf.AddArray("tokenizer.ggml.token_type", types);
        gguf.Add("tokenizer.ggml.unknown_token_id", 0u);
    }
}
