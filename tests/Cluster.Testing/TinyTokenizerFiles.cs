using System.Text.Encodings.Web;
using System.Text.Json;

namespace Cluster.Testing;

/// <summary>
/// Writes real tokenizer files (the formats Hugging Face checkpoints ship) into a directory, so tests run the real
/// loading code without a model hub.
/// </summary>
public static class TinyTokenizerFiles
{
    private const string EndOfText = "<|endoftext|>";

    // Pieces such as "Ġworld" stay readable in the files instead of becoming \u0120 escapes.
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// The first <paramref name="vocabularySize"/> - 1 tokens of the real GPT-2 vocabulary with the merges that make
    /// them (ids equal GPT-2's), plus "&lt;|endoftext|&gt;" as the last id. 50257 is the full GPT-2 tokenizer.
    /// </summary>
    public static TokenizerFileInfo WriteGpt2Bpe(string directory, int vocabularySize = 1024, bool writeTokenizerJson = true, bool writeVocabAndMerges = true)
    {
        int ordinaryTokens = vocabularySize - 1;
        if (ordinaryTokens < 256 || ordinaryTokens > Gpt2Vocabulary.Pieces.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(vocabularySize), vocabularySize, $"Must be between 257 (the 256 byte tokens and <|endoftext|>) and {Gpt2Vocabulary.Pieces.Count + 1}.");
        }

        Directory.CreateDirectory(directory);
        IReadOnlyList<string> pieces = Gpt2Vocabulary.Pieces.Take(ordinaryTokens).Append(EndOfText).ToArray();
        IReadOnlyList<string> merges = Gpt2Vocabulary.Merges.Take(ordinaryTokens - 256).ToArray();
        int endOfTextId = vocabularySize - 1;

        if (writeVocabAndMerges)
        {
            WriteJson(Path.Combine(directory, "vocab.json"), w => WriteVocabulary(w, pieces));
            File.WriteAllText(Path.Combine(directory, "merges.txt"), "#version: 0.2\n" + string.Join("\n", merges) + "\n");
        }

        if (writeTokenizerJson)
        {
            WriteJson(Path.Combine(directory, "tokenizer.json"), w => WriteGpt2TokenizerJson(w, pieces, merges, endOfTextId));
        }

        WriteJson(Path.Combine(directory, "tokenizer_config.json"), w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("add_bos_token", false);
            w.WriteString("bos_token", EndOfText);
            w.WriteString("eos_token", EndOfText);
            w.WriteString("unk_token", EndOfText);
            w.WriteString("tokenizer_class", "GPT2Tokenizer");
            w.WriteNumber("model_max_length", 1024);
            w.WriteEndObject();
        });

        return new TokenizerFileInfo(vocabularySize, endOfTextId, [endOfTextId]);
    }

    /// <summary>
    /// A small SentencePiece BPE model (tokenizer.model) shaped like Llama 2's: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256
    /// byte-fallback pieces, then a few hundred English pieces; plus tokenizer_config.json that adds BOS.
    /// Anything outside its pieces (Korean, emoji, tabs) goes through byte fallback.
    /// </summary>
    public static TokenizerFileInfo WriteSentencePiece(string directory)
    {
        Directory.CreateDirectory(directory);
        byte[] model = SentencePieceModelWriter.Write(SentencePieceVocabulary.Pieces());
        File.WriteAllBytes(Path.Combine(directory, "tokenizer.model"), model);

        WriteJson(Path.Combine(directory, "tokenizer_config.json"), w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("add_bos_token", true);
            w.WriteBoolean("add_eos_token", false);
            w.WriteStartObject("added_tokens_decoder");
            foreach ((int id, string content) in new[] { (0, "<unk>"), (1, "<s>"), (2, "</s>") })
            {
                w.WriteStartObject(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("content", content);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }

            w.WriteEndObject();
            // Llama 2 writes these as objects; GPT-2's tokenizer_config.json above writes plain strings.
            WriteTokenObject(w, "bos_token", "<s>");
            WriteTokenObject(w, "eos_token", "</s>");
            WriteTokenObject(w, "unk_token", "<unk>");
            w.WriteString("tokenizer_class", "LlamaTokenizer");
            w.WriteBoolean("legacy", false);
            w.WriteEndObject();
        });

        return new TokenizerFileInfo(SentencePieceVocabulary.Pieces().Count, 1, [2]);
    }

    private static void WriteTokenObject(Utf8JsonWriter w, string name, string content)
    {
        w.WriteStartObject(name);
        w.WriteString("__type", "AddedToken");
        w.WriteString("content", content);
        w.WriteBoolean("lstrip", false);
        w.WriteBoolean("normalized", false);
        w.WriteBoolean("rstrip", false);
        w.WriteBoolean("single_word", false);
        w.WriteEndObject();
    }

    private static void WriteVocabulary(Utf8JsonWriter w, IReadOnlyList<string> pieces)
    {
        w.WriteStartObject();
        for (int id = 0; id < pieces.Count; id++)
        {
            w.WriteNumber(pieces[id], id);
        }

        w.WriteEndObject();
    }

    /// <summary>The tokenizer.json Hugging Face's GPT-2 checkpoint ships, cut to this vocabulary.</summary>
    private static void WriteGpt2TokenizerJson(Utf8JsonWriter w, IReadOnlyList<string> pieces, IReadOnlyList<string> merges, int endOfTextId)
    {
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        w.WriteStartObject();
        w.WriteNumber("id", endOfTextId);
        w.WriteString("content", EndOfText);
        w.WriteBoolean("single_word", false);
        w.WriteBoolean("lstrip", false);
        w.WriteBoolean("rstrip", false);
        w.WriteBoolean("normalized", true);
        w.WriteBoolean("special", true);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteNull("normalizer");
        WriteByteLevel(w, "pre_tokenizer");
        WriteByteLevel(w, "post_processor");
        WriteByteLevel(w, "decoder");
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteString("continuing_subword_prefix", "");
        w.WriteString("end_of_word_suffix", "");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WritePropertyName("vocab");
        WriteVocabulary(w, pieces);
        w.WriteStartArray("merges");
        foreach (string merge in merges)
        {
            w.WriteStringValue(merge);
        }

        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string name)
    {
        w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
    }

    private static void WriteJson(string path, Action<Utf8JsonWriter> write)
    {
        using FileStream stream = File.Create(path);
        using var writer = new Utf8JsonWriter(stream, WriterOptions);
        write(writer);
    }
}
