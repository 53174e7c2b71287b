using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Cluster.Tokenizers;

/// <summary>
/// Byte-level BPE (GPT-2, Llama 3, Qwen2): Microsoft.ML.Tokenizers runs the pre-tokenizer regex and the merges;
/// decoding is ours, because it is only a byte map and owning it lets the streaming decoder work on raw bytes.
/// </summary>
internal sealed class ByteLevelBpeBackend : TokenizerBackend
{
    private readonly BpeTokenizer _tokenizer;
    private readonly NormalizationForm? _normalization;
    private readonly Dictionary<int, string> _pieces = [];
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly Dictionary<int, AddedToken> _addedTokens = [];
    private readonly HashSet<int> _specialIds = [];

    /// <param name="model">What the checkpoint's tokenizer files declare.</param>
    /// <param name="extraSpecialTokens">Special tokens named only by tokenizer_config.json / special_tokens_map.json
    /// (GPT-2's vocab.json + merges.txt checkpoints list "&lt;|endoftext|&gt;" there, not as an added token).</param>
    public ByteLevelBpeBackend(ByteLevelBpeModel model, IEnumerable<AddedToken> extraSpecialTokens)
    {
        _normalization = model.Normalization;
        foreach ((string piece, int id) in model.Vocabulary)
        {
            _pieces[id] = piece;
            _ids[piece] = id;
        }

        foreach (AddedToken token in model.AddedTokens.Concat(extraSpecialTokens))
        {
            _addedTokens[token.Id] = token;
            _pieces[token.Id] = token.Content;
            _ids[token.Content] = token.Id;
            if (token.Special)
            {
                _specialIds.Add(token.Id);
            }
        }

        VocabularySize = _pieces.Keys.Max() + 1;

        // Added tokens are matched whole before the regex splits the rest, as Hugging Face does by default.
        Dictionary<string, int>? matchedWhole = _addedTokens.Count == 0
            ? null
            : _addedTokens.Values.ToDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal);
        try
        {
            _tokenizer = BpeTokenizer.Create(new BpeOptions(model.Vocabulary)
            {
                Merges = model.Merges,
                ByteLevel = true,
                PreTokenizer = new RegexPreTokenizer(new Regex(model.PreTokenizerPattern, RegexOptions.Compiled), matchedWhole),
                SpecialTokens = matchedWhole,
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{model.SourceFile}: Microsoft.ML.Tokenizers rejected the BPE model: {e.Message}", e);
        }
    }

    public override string Kind => "byte-level BPE";

    public override int VocabularySize { get; }

    public override IReadOnlyList<int> Encode(string text) => _tokenizer.EncodeToIds(Normalize(text));

    public override int CountTokens(string text) => _tokenizer.CountTokens(Normalize(text));

    public override bool TryGetPiece(int id, out string piece) => _pieces.TryGetValue(id, out piece!);

    public override bool TryGetId(string token, out int id) => _ids.TryGetValue(token, out id);

    public override bool IsSpecialToken(int id) => _specialIds.Contains(id);

    /// <summary>The bytes token <paramref name="id"/> stands for: added tokens are their UTF-8 text, vocabulary pieces go through the byte alphabet.</summary>
    public override void AppendBytes(int id, bool skipSpecialTokens, List<byte> destination, ref bool atStart)
    {
        if (_addedTokens.TryGetValue(id, out AddedToken? added))
        {
            if (!(added.Special && skipSpecialTokens))
            {
                destination.AddRange(Encoding.UTF8.GetBytes(added.Content));
            }

            return;
        }

        if (!_pieces.TryGetValue(id, out string? piece))
        {
            throw UnknownId(id);
        }

        if (!ByteLevelAlphabet.TryAppendBytes(piece, destination))
        {
            // A piece outside the byte alphabet (hand-edited vocabularies have them) is literal text.
            destination.AddRange(Encoding.UTF8.GetBytes(piece));
        }
    }

    private string Normalize(string text) => _normalization is { } form ? text.Normalize(form) : text;
}
