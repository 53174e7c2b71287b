using Cluster.Testing;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Tests.Requests;

/// <summary>
/// Real tokenizers for the gateway tests, written once per test run into a temporary directory by
/// <see cref="TinyTokenizerFiles"/>: the first 1024 ids of GPT-2 (no BOS added) and a Llama-like SentencePiece model
/// with byte fallback (adds BOS).
/// </summary>
internal static class TestTokenizers
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "cluster-gateway-tests-" + Guid.NewGuid().ToString("N"));
    private static readonly Lazy<CheckpointTokenizer> Gpt2Lazy = new(() => Load("gpt2-1024", d => TinyTokenizerFiles.WriteGpt2Bpe(d, 1024)));
    private static readonly Lazy<CheckpointTokenizer> SentencePieceLazy = new(() => Load("sentencepiece", TinyTokenizerFiles.WriteSentencePiece));

    public const string Gpt2Name = "GPT-2 first 1024 ids";
    public const string SentencePieceName = "SentencePiece with byte fallback";

    static TestTokenizers()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temp directory is harmless.
            }
        };
    }

    /// <summary>Byte-level BPE, vocabulary 1024, BOS = EOS = &lt;|endoftext|&gt; (1023), BOS not added.</summary>
    public static CheckpointTokenizer Gpt2 => Gpt2Lazy.Value;

    /// <summary>&lt;unk&gt; 0, &lt;s&gt; 1 (BOS, added), &lt;/s&gt; 2, byte pieces from 3.</summary>
    public static CheckpointTokenizer SentencePiece => SentencePieceLazy.Value;

    public static CheckpointTokenizer ByName(string name) => name switch
    {
        Gpt2Name => Gpt2,
        SentencePieceName => SentencePiece,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown test tokenizer"),
    };

    private static CheckpointTokenizer Load(string folder, Func<string, TokenizerFileInfo> write)
    {
        string directory = Path.Combine(Root, folder);
        write(directory);
        return CheckpointTokenizer.Load(directory);
    }
}
