using System.Text;

namespace Cluster.Tokenizers;

/// <summary>
/// Turns sampled token ids into text deltas as they arrive. A token can end in the middle of a character (a
/// byte-level BPE byte token, a SentencePiece &lt;0xNN&gt; piece): its bytes are held until the character is
/// complete, so a delta never carries a broken UTF-8 sequence or a lone surrogate. The deltas concatenate to
/// exactly what <see cref="CheckpointTokenizer.Decode"/> returns for the same ids. Not thread-safe: one per stream.
/// </summary>
public sealed class StreamingDetokenizer
{
    private readonly TokenizerBackend _backend;
    private readonly bool _skipSpecialTokens;
    private readonly Decoder _utf8 = Encoding.UTF8.GetDecoder();
    private readonly List<byte> _bytes = [];
    private bool _atStart = true;

    internal StreamingDetokenizer(TokenizerBackend backend, bool skipSpecialTokens)
    {
        _backend = backend;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>
    /// Feeds one sampled id; returns the text that became complete with it (possibly empty). Models often pad their
    /// embedding matrix beyond the tokenizer's vocabulary (Qwen2: 151936 rows, 151665 tokens); a sampled id the
    /// tokenizer does not know has no text and yields "" rather than failing the stream.
    /// </summary>
    public string Push(int tokenId)
    {
        _bytes.Clear();
        if (!_backend.TryGetPiece(tokenId, out _))
        {
            return "";
        }
        _backend.AppendBytes(tokenId, _skipSpecialTokens, _bytes, ref _atStart);
        return DecodeBytes(flush: false);
    }

    /// <summary>Whatever is still held at the end of the stream; bytes that never completed a character become U+FFFD.</summary>
    public string Flush()
    {
        _bytes.Clear();
        return DecodeBytes(flush: true);
    }

    private string DecodeBytes(bool flush)
    {
        // The stateful UTF-8 decoder carries an unfinished character's first bytes over to the next call.
        byte[] bytes = _bytes.ToArray();
        var chars = new char[_utf8.GetCharCount(bytes, 0, bytes.Length, flush)];
        int written = _utf8.GetChars(bytes, 0, bytes.Length, chars, 0, flush);
        return new string(chars, 0, written);
    }
}
