using System.Text;
using Microsoft.ML.Tokenizers;

namespace Cluster.Tokenizers;

/// <summary>
/// SentencePiece models from tokenizer.model (Llama 2, TinyLlama): Microsoft.ML.Tokenizers reads the protobuf,
/// normalizes ("▁" for spaces, the dummy prefix), merges, falls back to &lt;0xNN&gt; byte pieces, and decodes.
/// </summary>
internal sealed class SentencePieceBackend : TokenizerBackend
{
    private readonly SentencePieceTokenizer _tokenizer;
    private readonly SentencePieceTokenizer _tokenizerWithoutSpecialTokens;
    private readonly Dictionary<int, string> _pieces = [];
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly HashSet<int> _specialIds = [];
    private readonly Dictionary<int, byte> _byteValues = [];

    /// <param name="modelPath">The tokenizer.model file.</param>
    /// <param name="addedTokens">tokenizer_config.json's added_tokens_decoder: matched whole in the input, like Hugging Face does.</param>
    public SentencePieceBackend(string modelPath, IReadOnlyList<AddedToken> addedTokens)
    {
        byte[] modelBytes = File.ReadAllBytes(modelPath);
        try
        {
            // The library matches the added tokens it is given whole; a second instance without the special ones
            // encodes text that spells them as plain text (Encode with allowSpecialTokens false).
            _tokenizer = Create(modelBytes, addedTokens);
            _tokenizerWithoutSpecialTokens = Create(modelBytes, addedTokens.Where(t => !t.Special).ToArray());
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Protobuf parse errors (InvalidProtocolBufferException), unsupported model types (ArgumentException), ...
            throw new InvalidDataException($"{modelPath} is not a SentencePiece model that Microsoft.ML.Tokenizers can read: {e.Message}", e);
        }

        foreach ((string piece, int id) in _tokenizer.Vocabulary)
        {
            _pieces[id] = piece;
            _ids[piece] = id;
            if (_tokenizer.ByteFallback && TryParseBytePiece(piece, out byte value))
            {
                _byteValues[id] = value;
            }
        }

        if (_pieces.Count == 0)
        {
            throw new InvalidDataException($"{modelPath} holds no pieces.");
        }

        foreach (AddedToken token in addedTokens)
        {
            _pieces[token.Id] = token.Content;
            _ids[token.Content] = token.Id;
            if (token.Special)
            {
                _specialIds.Add(token.Id);
            }
        }

        // The control pieces are what the library itself skips when decoding without special tokens.
        _specialIds.UnionWith([_tokenizer.UnknownId, _tokenizer.BeginningOfSentenceId, _tokenizer.EndOfSentenceId]);
        VocabularySize = _pieces.Keys.Max() + 1;
        ModelBosId = _tokenizer.BeginningOfSentenceId;
        ModelEosId = _tokenizer.EndOfSentenceId;
    }

    private const char WordBoundary = '\u2581';

    public override string Kind => "SentencePiece";

    public override int VocabularySize { get; }

    /// <summary>BOS / EOS as the model file's trainer spec declares them; used when no JSON file names them.</summary>
    public int ModelBosId { get; }

    public int ModelEosId { get; }

    public override IReadOnlyList<int> Encode(string text, bool allowSpecialTokens) =>
        (allowSpecialTokens ? _tokenizer : _tokenizerWithoutSpecialTokens)
            .EncodeToIds(text, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: true, considerNormalization: true);

    public override int CountTokens(string text, bool allowSpecialTokens) =>
        (allowSpecialTokens ? _tokenizer : _tokenizerWithoutSpecialTokens)
            .CountTokens(text, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: true, considerNormalization: true);

    public override bool TryGetPiece(int id, out string piece) => _pieces.TryGetValue(id, out piece!);

    public override bool TryGetId(string token, out int id) => _ids.TryGetValue(token, out id);

    public override bool IsSpecialToken(int id) => _specialIds.Contains(id);

    /// <summary>
    /// Decodes as SentencePiece itself does: "▁" is a space, &lt;0xNN&gt; pieces are raw bytes, control pieces are
    /// skipped or written out, and the dummy prefix's space is dropped only at the very start of the text.
    /// (Microsoft.ML.Tokenizers' own Decode drops it from the first word piece even after byte pieces, which turns
    /// "😀 the" into "😀the"; and decoding a suffix of ids alone would drop a real space, which streaming must not.)
    /// </summary>
    public override void AppendBytes(int id, bool skipSpecialTokens, List<byte> destination, ref bool atStart)
    {
        if (_byteValues.TryGetValue(id, out byte value))
        {
            destination.Add(value);
            atStart = false;
            return;
        }

        if (_specialIds.Contains(id))
        {
            if (!skipSpecialTokens)
            {
                destination.AddRange(Encoding.UTF8.GetBytes(_pieces[id]));
            }

            return;
        }

        if (!_pieces.TryGetValue(id, out string? piece))
        {
            throw UnknownId(id);
        }

        string text = piece.Replace(WordBoundary, ' ');
        if (atStart && _tokenizer.AddDummyPrefix && text.StartsWith(' '))
        {
            text = text[1..];
        }

        // Only one space is the dummy prefix: a lone "▁" piece first, then "▁the", means the text began with a space.
        atStart = false;
        destination.AddRange(Encoding.UTF8.GetBytes(text));
    }

    private static SentencePieceTokenizer Create(byte[] model, IReadOnlyList<AddedToken> matchedWhole)
    {
        using var stream = new MemoryStream(model, writable: false);
        // Never add BOS / EOS here: the checkpoint's configuration decides that (TokenizerBackend).
        return SentencePieceTokenizer.Create(
            stream, false, false,
            matchedWhole.Count == 0 ? null : matchedWhole.ToDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal));
    }

    /// <summary>Byte-fallback pieces are spelled "&lt;0xNN&gt;" with two upper-case hex digits.</summary>
    private static bool TryParseBytePiece(string piece, out byte value)
    {
        value = 0;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out value);
    }
}
