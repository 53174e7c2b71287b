using System.Text.RegularExpressions;

namespace Cluster.Tokenizers;

/// <summary>
/// Hugging Face's ByteLevel pre-tokenizer: optionally puts a space before each piece that does not start with one
/// (add_prefix_space), then optionally splits it with GPT-2's regex (use_regex). Mapping bytes to the byte-level
/// alphabet is left to the BPE model, which works on UTF-8 bytes.
/// </summary>
internal sealed class ByteLevelStep(bool addPrefixSpace, bool useRegex) : PreTokenizerStep
{
    private static readonly Regex Gpt2 = new(PreTokenizerPatterns.Gpt2, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    public bool AddPrefixSpace { get; } = addPrefixSpace;

    public bool UseRegex { get; } = useRegex;

    public override void Split(string piece, List<string> destination)
    {
        if (AddPrefixSpace && !piece.StartsWith(' '))
        {
            piece = " " + piece;
        }

        if (UseRegex)
        {
            SplitAround(piece, Gpt2.Matches(piece).Select(m => (m.Index, m.Length)), SplitBehavior.Isolated, invert: false, destination);
        }
        else if (piece.Length > 0)
        {
            destination.Add(piece);
        }
    }
}
