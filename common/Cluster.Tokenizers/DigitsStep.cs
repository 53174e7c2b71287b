using System.Globalization;
using System.Text;

namespace Cluster.Tokenizers;

/// <summary>
/// Hugging Face's Digits pre-tokenizer (SmolLM2, StarCoder): every numeric character (Unicode categories Nd, Nl, No,
/// Rust's char::is_numeric) becomes a piece of its own with individual_digits, or runs of them do without.
/// </summary>
internal sealed class DigitsStep(bool individualDigits) : PreTokenizerStep
{
    public override void Split(string piece, List<string> destination) =>
        SplitAround(piece, NumericCharacters(piece), individualDigits ? SplitBehavior.Isolated : SplitBehavior.Contiguous, invert: false, destination);

    private static IEnumerable<(int Start, int Length)> NumericCharacters(string piece)
    {
        // By Unicode scalar, so that a digit outside the BMP (a surrogate pair, e.g. U+1D7CF) counts as one.
        int index = 0;
        foreach (Rune rune in piece.EnumerateRunes())
        {
            if (Rune.GetUnicodeCategory(rune) is UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber)
            {
                yield return (index, rune.Utf16SequenceLength);
            }

            index += rune.Utf16SequenceLength;
        }
    }
}
