namespace Cluster.Tokenizers;

/// <summary>
/// tokenizer.json's pre_tokenizer as a list of steps, each applied to every piece the previous one produced (what
/// Hugging Face's Sequence does; a single pre-tokenizer is a sequence of one, none is a sequence of none).
/// </summary>
internal sealed class PreTokenizerSequence(IReadOnlyList<PreTokenizerStep> steps)
{
    /// <summary>GPT-2's vocab.json + merges.txt layout: ByteLevel with GPT-2's regex, no prefix space.</summary>
    public static PreTokenizerSequence Gpt2 { get; } = new([new ByteLevelStep(addPrefixSpace: false, useRegex: true)]);

    public IReadOnlyList<PreTokenizerStep> Steps { get; } = steps;

    /// <summary>The words BPE runs on, in order; they concatenate to <paramref name="text"/> unless a step added or removed text.</summary>
    public List<string> Words(string text)
    {
        var pieces = new List<string>(1) { text };
        foreach (PreTokenizerStep step in Steps)
        {
            var next = new List<string>(pieces.Count * 2);
            foreach (string piece in pieces)
            {
                step.Split(piece, next);
            }

            pieces = next;
        }

        pieces.RemoveAll(p => p.Length == 0);
        return pieces;
    }
}
