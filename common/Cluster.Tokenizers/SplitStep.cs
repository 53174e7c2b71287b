using System.Text.RegularExpressions;

namespace Cluster.Tokenizers;

/// <summary>
/// Hugging Face's Split pre-tokenizer: a regex (or a literal string) and what to do with its matches. Llama 3 and
/// Qwen2 put their word regex here, with behavior Isolated, before a ByteLevel step that does no splitting itself.
/// </summary>
internal sealed class SplitStep(Regex pattern, SplitBehavior behavior, bool invert) : PreTokenizerStep
{
    public override void Split(string piece, List<string> destination) =>
        SplitAround(piece, pattern.Matches(piece).Select(m => (m.Index, m.Length)), behavior, invert, destination);
}
