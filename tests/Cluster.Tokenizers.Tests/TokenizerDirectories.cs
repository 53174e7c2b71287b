using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cluster.Testing;
using Cluster.Tokenizers;

namespace Cluster.Tokenizers.Tests;

/// <summary>
/// The checkpoints the tests load, written once per test run into a temporary directory (the full GPT-2 files take
/// a moment) and removed when the process exits. Tests that change files write their own copies.
/// </summary>
internal static class TokenizerDirectories
{
    public const string Gpt2SubsetJson = "GPT-2 first 1024 ids, tokenizer.json";
    public const string Gpt2SubsetVocabMerges = "GPT-2 first 1024 ids, vocab.json + merges.txt";
    public const string Gpt2FullJson = "GPT-2 full, tokenizer.json";
    public const string Gpt2FullVocabMerges = "GPT-2 full, vocab.json + merges.txt";
    public const string SentencePiece = "SentencePiece with byte fallback";
    public const string SmolLm2Json = "GPT-2 first 1024 ids, SmolLM2 pre-tokenizer (Digits + ByteLevel)";
    public const string Llama3Json = "GPT-2 first 1024 ids, Llama 3 pre-tokenizer (Split + ByteLevel) and ignore_merges";
    public const string Qwen2Json = "GPT-2 first 1024 ids, Qwen2 normalizer (NFC) and pre-tokenizer (Split + ByteLevel)";

    public static readonly string[] All = [Gpt2SubsetJson, Gpt2SubsetVocabMerges, Gpt2FullJson, Gpt2FullVocabMerges, SentencePiece, SmolLm2Json, Llama3Json, Qwen2Json];

    private static readonly string Root = Path.Combine(Path.GetTempPath(), "cluster-tokenizer-tests-" + Guid.NewGuid().ToString("N"));
    private static readonly Dictionary<string, Lazy<(string Directory, TokenizerFileInfo Info, CheckpointTokenizer Tokenizer)>> Written = new()
    {
        [Gpt2SubsetJson] = Lazy("gpt2-1024-json", d => TinyTokenizerFiles.WriteGpt2Bpe(d, 1024, writeTokenizerJson: true, writeVocabAndMerges: false)),
        [Gpt2SubsetVocabMerges] = Lazy("gpt2-1024-vocab", d => TinyTokenizerFiles.WriteGpt2Bpe(d, 1024, writeTokenizerJson: false, writeVocabAndMerges: true)),
        [Gpt2FullJson] = Lazy("gpt2-full-json", d => TinyTokenizerFiles.WriteGpt2Bpe(d, 50257, writeTokenizerJson: true, writeVocabAndMerges: false)),
        [Gpt2FullVocabMerges] = Lazy("gpt2-full-vocab", d => TinyTokenizerFiles.WriteGpt2Bpe(d, 50257, writeTokenizerJson: false, writeVocabAndMerges: true)),
        [SentencePiece] = Lazy("sentencepiece", TinyTokenizerFiles.WriteSentencePiece),
        [SmolLm2Json] = Lazy("smollm2-json", d => WriteRewritten(d, Gpt2SubsetJson, HuggingFaceBlocks.MakeSmolLm2)),
        [Llama3Json] = Lazy("llama3-json", d => WriteRewritten(d, Gpt2SubsetJson, HuggingFaceBlocks.MakeLlama3)),
        [Qwen2Json] = Lazy("qwen2-json", d => WriteRewritten(d, Gpt2SubsetJson, HuggingFaceBlocks.MakeQwen2)),
    };

    static TokenizerDirectories()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                System.IO.Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temp directory is harmless.
            }
        };
    }

    public static CheckpointTokenizer Tokenizer(string name) => Written[name].Value.Tokenizer;

    public static TokenizerFileInfo Info(string name) => Written[name].Value.Info;

    public static string Directory(string name) => Written[name].Value.Directory;

    /// <summary>A fresh, empty directory for a test that writes its own files.</summary>
    public static string NewDirectory(string purpose)
    {
        string path = Path.Combine(Root, purpose + "-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Copies a written checkpoint so a test can change its files.</summary>
    public static string CopyOf(string name)
    {
        string copy = NewDirectory("copy");
        foreach (string file in System.IO.Directory.GetFiles(Directory(name)))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        return copy;
    }

    /// <summary>A copy of a written checkpoint whose tokenizer.json is changed by <paramref name="change"/>.</summary>
    public static string Rewritten(string name, Action<JsonObject> change)
    {
        string directory = CopyOf(name);
        RewriteTokenizerJson(directory, change);
        return directory;
    }

    private static TokenizerFileInfo WriteRewritten(string directory, string baseName, Action<JsonObject> change)
    {
        System.IO.Directory.CreateDirectory(directory);
        foreach (string file in System.IO.Directory.GetFiles(Directory(baseName)))
        {
            File.Copy(file, Path.Combine(directory, Path.GetFileName(file)));
        }

        RewriteTokenizerJson(directory, change);
        return Info(baseName);
    }

    private static void RewriteTokenizerJson(string directory, Action<JsonObject> change)
    {
        string path = Path.Combine(directory, "tokenizer.json");
        JsonObject json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        change(json);
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }

    private static Lazy<(string, TokenizerFileInfo, CheckpointTokenizer)> Lazy(string folder, Func<string, TokenizerFileInfo> write) => new(() =>
    {
        string directory = Path.Combine(Root, folder);
        TokenizerFileInfo info = write(directory);
        return (directory, info, CheckpointTokenizer.Load(directory));
    });
}
