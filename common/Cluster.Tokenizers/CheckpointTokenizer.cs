namespace Cluster.Tokenizers;

/// <summary>
/// The tokenizer of a Hugging Face checkpoint directory: encodes prompts, counts tokens (users pay by them),
/// decodes, and streams text deltas as sampled ids arrive. Immutable after loading, safe to share across requests.
/// </summary>
public sealed class CheckpointTokenizer
{
    private readonly TokenizerBackend _backend;

    private CheckpointTokenizer(TokenizerBackend backend, int? bosTokenId, IReadOnlyList<int> eosTokenIds, bool addsBosToken, IReadOnlyDictionary<string, string> namedSpecialTokens)
    {
        _backend = backend;
        BosTokenId = bosTokenId;
        EosTokenIds = eosTokenIds;
        AddsBosToken = addsBosToken;
        NamedSpecialTokens = namedSpecialTokens;
    }

    /// <summary>"byte-level BPE" or "SentencePiece", for display.</summary>
    public string Kind => _backend.Kind;

    /// <summary>Highest token id plus one, counting added and special tokens (a model's embedding may be larger, padded).</summary>
    public int VocabularySize => _backend.VocabularySize;

    public int? BosTokenId { get; }

    /// <summary>Every id that ends a generation; the first is the tokenizer's own EOS when it names one.</summary>
    public IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>Whether <see cref="Encode"/> puts BOS first when not told otherwise.</summary>
    public bool AddsBosToken { get; }

    /// <summary>
    /// bos_token, eos_token, unk_token and pad_token, by name, as tokenizer_config.json or special_tokens_map.json spell
    /// them (a string or a {"content": ...} object there): the variables a chat template reads.
    /// </summary>
    public IReadOnlyDictionary<string, string> NamedSpecialTokens { get; }

    /// <summary>
    /// Loads the tokenizer of a Hugging Face checkpoint directory. Reads, in order of preference, tokenizer.json
    /// (byte-level BPE), vocab.json + merges.txt (GPT-2), tokenizer.model (SentencePiece); BOS/EOS from
    /// tokenizer_config.json, special_tokens_map.json, generation_config.json and config.json.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The directory does not exist.</exception>
    /// <exception cref="FileNotFoundException">No tokenizer file is there.</exception>
    /// <exception cref="InvalidDataException">A file is there but malformed or unsupported; the message names it.</exception>
    public static CheckpointTokenizer Load(string checkpointDirectory) => CheckpointTokenizerLoader.Load(checkpointDirectory);

    internal static CheckpointTokenizer Create(TokenizerBackend backend, int? bosTokenId, IReadOnlyList<int> eosTokenIds, bool addsBosToken,
        IReadOnlyDictionary<string, string> namedSpecialTokens) =>
        new(backend, bosTokenId, eosTokenIds, addsBosToken, namedSpecialTokens);

    /// <param name="text">The text to tokenize; added/special tokens written in it (e.g. "&lt;|endoftext|&gt;") are matched whole, as Hugging Face does.</param>
    /// <param name="addBos">Put BOS first; null follows the checkpoint (<see cref="AddsBosToken"/>).</param>
    /// <param name="allowSpecialTokens">
    /// True (Hugging Face's default): special tokens spelled in the text become those tokens. False: they are encoded
    /// as the plain text they are spelled with, so that untrusted input cannot inject "&lt;|im_start|&gt;system" or end a
    /// turn early (Hugging Face's split_special_tokens). BOS from <paramref name="addBos"/> is added either way, and
    /// non-special added tokens are still matched.
    /// </param>
    public IReadOnlyList<int> Encode(string text, bool? addBos = null, bool allowSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        IReadOnlyList<int> ids = _backend.Encode(text, allowSpecialTokens);
        if (!ResolveAddBos(addBos))
        {
            return ids;
        }

        var withBos = new int[ids.Count + 1];
        withBos[0] = BosTokenId!.Value;
        for (int i = 0; i < ids.Count; i++)
        {
            withBos[i + 1] = ids[i];
        }

        return withBos;
    }

    /// <summary>The number of ids <see cref="Encode"/> returns for the same arguments, without building the list.</summary>
    public int CountTokens(string text, bool? addBos = null, bool allowSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _backend.CountTokens(text, allowSpecialTokens) + (ResolveAddBos(addBos) ? 1 : 0);
    }

    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return _backend.Decode(ids, skipSpecialTokens);
    }

    /// <summary>
    /// The UTF-8 bytes each token contributes to the decoded text, special tokens included, in order: what
    /// <see cref="Decode"/> concatenates (a byte-level piece may hold part of a character; SentencePiece's dummy-prefix
    /// space is dropped from the first text, as in decoding). Where a text's tokens came from in the text.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary.</exception>
    public IReadOnlyList<byte[]> TokenBytes(IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var result = new byte[ids.Count][];
        var bytes = new List<byte>();
        bool atStart = true;
        for (int i = 0; i < ids.Count; i++)
        {
            bytes.Clear();
            _backend.AppendBytes(ids[i], skipSpecialTokens: false, bytes, ref atStart);
            result[i] = [.. bytes];
        }
        return result;
    }

    /// <summary>
    /// The bytes token <paramref name="id"/> adds to a text it continues (not at the text's start, so SentencePiece's
    /// leading space stays); null for special tokens and ids outside the vocabulary. What a constraint on generated
    /// text (JSON mode) reads each candidate token as.
    /// </summary>
    public byte[]? ContinuationBytes(int id)
    {
        if (!_backend.TryGetPiece(id, out _) || _backend.IsSpecialToken(id))
        {
            return null;
        }
        var bytes = new List<byte>();
        bool atStart = false;
        _backend.AppendBytes(id, skipSpecialTokens: false, bytes, ref atStart);
        return [.. bytes];
    }

    /// <summary>The token as the vocabulary spells it ("Ġworld", "▁the", "&lt;0xEC&gt;"), for showing how text was split.</summary>
    public string TokenPiece(int id) =>
        _backend.TryGetPiece(id, out string piece)
            ? piece
            : throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is not in this tokenizer's vocabulary (size {VocabularySize}).");

    /// <summary>Whether <paramref name="id"/> is a token of this tokenizer (models may have more embedding rows than tokens).</summary>
    public bool Knows(int id) => _backend.TryGetPiece(id, out _);

    public bool IsSpecialToken(int id) => _backend.IsSpecialToken(id);

    /// <summary>A detokenizer for one generated stream.</summary>
    public StreamingDetokenizer CreateStreamingDetokenizer(bool skipSpecialTokens = true) => new(_backend, skipSpecialTokens);

    private bool ResolveAddBos(bool? addBos)
    {
        bool add = addBos ?? AddsBosToken;
        if (add && BosTokenId is null)
        {
            throw new InvalidOperationException("BOS was asked for, but this checkpoint's tokenizer has no BOS token.");
        }

        return add;
    }
}
