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

    public static readonly string[] All = [Gpt2SubsetJson, Gpt2SubsetVocabMerges, Gpt2FullJson, Gpt2FullVocabMerges, SentencePiece];

    private static readonly string Root = Path.Combine(Path.GetTempPath(), "cluster-tokenizer-tests-" + Guid.NewGuid().ToString("N"));
    private static readonly Dictionary<string, Lazy<(string Directory, TokenizerFileInfo Info, CheckpointTokenizer Tokenizer)>> Written = new()
    {
        [Gpt2SubsetJson] = Lazy("gpt2-1024-json", d => TinyTokenizerFiles.WriteGpt2Bpe(d, 1024, writeTokenizerJson: true, writeVocabAndMerges: false)),
        [Gpt2SubsetVocabMerges] = Lazy("gpt2-1024-vocab", d => TinyTokenizerFiles.WriteGpt2Bpe(d, 1024, writeTokenizerJson: false, writeVocabAndMerges: true)),
        [Gpt2FullJson] = Lazy("gpt2-full-json", d => TinyTokenizerFiles.WriteGpt2Bpe(d, 50257, writeTokenizerJson: true, writeVocabAndMerges: false)),
        [Gpt2FullVocabMerges] = Lazy("gpt2-full-vocab", d => TinyTokenizerFiles.WriteGpt2Bpe(d, 50257, writeTokenizerJson: false, writeVocabAndMerges: true)),
        [SentencePiece] = Lazy("sentencepiece", TinyTokenizerFiles.WriteSentencePiece),
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

    private static Lazy<(string, TokenizerFileInfo, CheckpointTokenizer)> Lazy(string folder, Func<string, TokenizerFileInfo> write) => new(() =>
    {
        string directory = Path.Combine(Root, folder);
        TokenizerFileInfo info = write(directory);
        return (directory, info, CheckpointTokenizer.Load(directory));
    });
}
