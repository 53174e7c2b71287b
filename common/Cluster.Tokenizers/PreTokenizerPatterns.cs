namespace Cluster.Tokenizers;

/// <summary>Regular expressions that split text into words before BPE merges run inside each word.</summary>
internal static class PreTokenizerPatterns
{
    /// <summary>GPT-2's pattern, what the Hugging Face ByteLevel pre-tokenizer applies when use_regex is true.</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
}
