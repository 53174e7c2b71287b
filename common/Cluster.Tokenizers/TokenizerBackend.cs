using System.Text;

namespace Cluster.Tokenizers;

/// <summary>
/// One tokenizer family behind <see cref="CheckpointTokenizer"/>. Backends never add BOS themselves: the checkpoint's
/// configuration decides that, in one place, the same way for every family.
/// Decoding goes through bytes for every family (byte-level BPE tokens and SentencePiece &lt;0xNN&gt; pieces are
/// fragments of UTF-8), so that whole-sequence and streaming decoding are the same code and cannot disagree.
/// </summary>
internal abstract class TokenizerBackend
{
    public abstract string Kind { get; }

    /// <summary>Highest id that means something (vocabulary, added or special token) plus one.</summary>
    public abstract int VocabularySize { get; }

    /// <param name="allowSpecialTokens">Whether special tokens written in the text are encoded as those tokens; when
    /// false they are encoded as the plain text they are spelled with (non-special added tokens are still matched).</param>
    public abstract IReadOnlyList<int> Encode(string text, bool allowSpecialTokens);

    public abstract int CountTokens(string text, bool allowSpecialTokens);

    public abstract bool TryGetPiece(int id, out string piece);

    public abstract bool TryGetId(string token, out int id);

    public abstract bool IsSpecialToken(int id);

    /// <summary>
    /// Appends the UTF-8 bytes token <paramref name="id"/> contributes. <paramref name="atStart"/> is true until the
    /// first text has been produced; SentencePiece drops the space of its dummy prefix there.
    /// </summary>
    public abstract void AppendBytes(int id, bool skipSpecialTokens, List<byte> destination, ref bool atStart);

    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens)
    {
        var bytes = new List<byte>();
        bool atStart = true;
        foreach (int id in ids)
        {
            AppendBytes(id, skipSpecialTokens, bytes, ref atStart);
        }

        // Invalid sequences (a generation that stopped mid-character) become U+FFFD, as Hugging Face decodes them.
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    protected ArgumentOutOfRangeException UnknownId(int id) =>
        new(nameof(id), id, $"Token id {id} is not in this tokenizer's vocabulary (size {VocabularySize}).");
}
