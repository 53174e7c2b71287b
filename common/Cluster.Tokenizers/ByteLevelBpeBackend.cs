using System.Text;
using Microsoft.ML.Tokenizers;

namespace Cluster.Tokenizers;

/// <summary>
/// Byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM2). Encoding runs Hugging Face's pipeline in order: added tokens
/// matched whole, normalization, the pre-tokenizer steps, then per word either the whole word's id (ignore_merges)
/// or Microsoft.ML.Tokenizers' BPE merges on the word's UTF-8 bytes. Decoding is ours, because it is only a byte map
/// and owning it lets the streaming decoder work on raw bytes.
/// </summary>
internal sealed class ByteLevelBpeBackend : TokenizerBackend
{
    private readonly BpeTokenizer _bpe;
    private readonly PreTokenizerSequence _preTokenizer;
    private readonly IReadOnlyList<NormalizationForm> _normalizations;
    private readonly IReadOnlyDictionary<string, int>? _wholeWords;
    private readonly AddedTokenMatcher _matcher;
    private readonly Dictionary<int, string> _pieces = [];
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly Dictionary<int, AddedToken> _addedTokens = [];
    private readonly HashSet<int> _specialIds = [];

    /// <param name="model">What the checkpoint's tokenizer files declare.</param>
    /// <param name="extraSpecialTokens">Special tokens named only by tokenizer_config.json / special_tokens_map.json
    /// (GPT-2's vocab.json + merges.txt checkpoints list "&lt;|endoftext|&gt;" there, not as an added token).</param>
    public ByteLevelBpeBackend(ByteLevelBpeModel model, IEnumerable<AddedToken> extraSpecialTokens)
    {
        _preTokenizer = model.PreTokenizer;
        _normalizations = model.Normalizations;
        _wholeWords = model.IgnoreMerges ? model.Vocabulary : null;
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
        _matcher = new AddedTokenMatcher(_addedTokens.Values);
        try
        {
            // Only the merges are the library's: pre-tokenization and added tokens happen before it is called.
            _bpe = BpeTokenizer.Create(new BpeOptions(model.Vocabulary) { Merges = model.Merges, ByteLevel = true });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{model.SourceFile}: Microsoft.ML.Tokenizers rejected the BPE model: {e.Message}", e);
        }
    }

    public override string Kind => "byte-level BPE";

    public override int VocabularySize { get; }

    public override IReadOnlyList<int> Encode(string text, bool allowSpecialTokens)
    {
        var ids = new List<int>();
        Run(text, allowSpecialTokens, ids);
        return ids;
    }

    public override int CountTokens(string text, bool allowSpecialTokens) => Run(text, allowSpecialTokens, ids: null);

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

    /// <summary>Encodes into <paramref name="ids"/> when given; returns the number of ids either way.</summary>
    private int Run(string text, bool allowSpecialTokens, List<int>? ids)
    {
        int count = 0;
        foreach ((string segment, int? addedId) in _matcher.Split(text, allowSpecialTokens))
        {
            if (addedId is { } id)
            {
                ids?.Add(id);
                count++;
                continue;
            }

            foreach (string word in _preTokenizer.Words(Normalize(segment)))
            {
                if (_wholeWords is not null && _wholeWords.TryGetValue(ToByteLevel(word), out int wholeId))
                {
                    ids?.Add(wholeId);
                    count++;
                }
                else if (ids is not null)
                {
                    int before = ids.Count;
                    ids.AddRange(_bpe.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
                    count += ids.Count - before;
                }
                else
                {
                    count += _bpe.CountTokens(word, considerPreTokenization: false, considerNormalization: false);
                }
            }
        }

        return count;
    }

    private string Normalize(string text)
    {
        foreach (NormalizationForm form in _normalizations)
        {
            text = text.Normalize(form);
        }

        return text;
    }

    /// <summary>The word as the vocabulary spells it: each UTF-8 byte as its byte-level character ("Ġhello").</summary>
    private static string ToByteLevel(string word)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(word);
        return string.Create(bytes.Length, bytes, static (chars, b) =>
        {
            for (int i = 0; i < b.Length; i++)
            {
                chars[i] = ByteLevelAlphabet.Encode(b[i]);
            }
        });
    }
}
