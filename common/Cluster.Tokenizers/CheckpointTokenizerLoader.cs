namespace Cluster.Tokenizers;

/// <summary>Finds the tokenizer files of a checkpoint, builds the backend, and settles BOS / EOS.</summary>
internal static class CheckpointTokenizerLoader
{
    public static CheckpointTokenizer Load(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"Checkpoint directory {directory} does not exist.");
        }

        CheckpointSpecialTokens special = CheckpointSpecialTokens.Read(directory);
        (TokenizerBackend backend, string? templateBosToken) = LoadBackend(directory, special);

        int? bosId = ResolveBos(backend, special);
        bool addsBos = special.AddBosToken ?? (backend is SentencePieceBackend || templateBosToken is not null);
        if (addsBos && bosId is null && templateBosToken is not null)
        {
            bosId = IdOf(backend, templateBosToken, "tokenizer.json's post_processor");
        }

        if (addsBos && bosId is null)
        {
            throw new InvalidDataException($"{Path.Combine(directory, "tokenizer_config.json")}: add_bos_token is true but no file names a BOS token.");
        }

        return CheckpointTokenizer.Create(backend, bosId, ResolveEos(backend, special), addsBos, special.NamedTokens);
    }

    private static (TokenizerBackend Backend, string? TemplateBosToken) LoadBackend(string directory, CheckpointSpecialTokens special)
    {
        string tokenizerJson = Path.Combine(directory, "tokenizer.json");
        string vocabJson = Path.Combine(directory, "vocab.json");
        string mergesTxt = Path.Combine(directory, "merges.txt");
        string sentencePieceModel = Path.Combine(directory, "tokenizer.model");

        bool tokenizerJsonNotByteLevel = false;
        if (File.Exists(tokenizerJson))
        {
            if (HuggingFaceTokenizerJson.ReadByteLevelBpe(tokenizerJson) is { } model)
            {
                return (new ByteLevelBpeBackend(model, ExtraSpecialTokens(model, special)), model.TemplateBosToken);
            }

            tokenizerJsonNotByteLevel = true;
        }

        if (File.Exists(vocabJson) && File.Exists(mergesTxt))
        {
            ByteLevelBpeModel model = Gpt2VocabAndMerges.Read(vocabJson, mergesTxt);
            return (new ByteLevelBpeBackend(model, ExtraSpecialTokens(model, special)), null);
        }

        if (File.Exists(sentencePieceModel))
        {
            return (new SentencePieceBackend(sentencePieceModel, special.AddedTokens), null);
        }

        if (tokenizerJsonNotByteLevel)
        {
            throw new InvalidDataException($"{tokenizerJson} does not describe a byte-level BPE model (no ByteLevel pre-tokenizer or decoder), and there is no tokenizer.model or vocab.json + merges.txt beside it.");
        }

        if (File.Exists(vocabJson) != File.Exists(mergesTxt))
        {
            string missing = File.Exists(vocabJson) ? mergesTxt : vocabJson;
            throw new FileNotFoundException($"{missing} is missing: a GPT-2 style tokenizer needs both vocab.json and merges.txt.", missing);
        }

        throw new FileNotFoundException(
            $"No tokenizer in {directory}: expected tokenizer.json, vocab.json + merges.txt, or tokenizer.model.", tokenizerJson);
    }

    /// <summary>
    /// Special tokens the JSON configuration names that the model file does not declare as added tokens: GPT-2's
    /// "&lt;|endoftext|&gt;" is an ordinary vocab.json entry that only tokenizer_config.json calls special.
    /// </summary>
    private static List<AddedToken> ExtraSpecialTokens(ByteLevelBpeModel model, CheckpointSpecialTokens special)
    {
        var declared = new HashSet<int>(model.AddedTokens.Select(t => t.Id));
        var extra = new List<AddedToken>();
        foreach (AddedToken token in special.AddedTokens)
        {
            if (declared.Add(token.Id))
            {
                extra.Add(token);
            }
        }

        foreach (string content in special.SpecialTokenStrings)
        {
            if (model.Vocabulary.TryGetValue(content, out int id) && declared.Add(id))
            {
                extra.Add(new AddedToken(content, id, Special: true));
            }
        }

        return extra;
    }

    private static int? ResolveBos(TokenizerBackend backend, CheckpointSpecialTokens special)
    {
        if (special.BosToken is { } token)
        {
            return IdOf(backend, token, "bos_token in tokenizer_config.json / special_tokens_map.json");
        }

        if (special.BosIds.Count > 0)
        {
            return CheckId(backend, special.BosIds[0], "bos_token_id");
        }

        return backend is SentencePieceBackend sentencePiece ? sentencePiece.ModelBosId : null;
    }

    private static int[] ResolveEos(TokenizerBackend backend, CheckpointSpecialTokens special)
    {
        var ids = new List<int>();
        if (special.EosToken is { } token)
        {
            ids.Add(IdOf(backend, token, "eos_token in tokenizer_config.json / special_tokens_map.json"));
        }

        ids.AddRange(special.EosIds.Select(e => CheckId(backend, e, "eos_token_id")));
        if (ids.Count == 0 && backend is SentencePieceBackend sentencePiece)
        {
            ids.Add(sentencePiece.ModelEosId);
        }

        return ids.Distinct().ToArray();
    }

    private static int IdOf(TokenizerBackend backend, string token, string source) =>
        backend.TryGetId(token, out int id)
            ? id
            : throw new InvalidDataException($"{source} names \"{token}\", which is not a token of this {backend.Kind} tokenizer.");

    private static int CheckId(TokenizerBackend backend, (int Id, string File) entry, string property) =>
        entry.Id >= 0 && entry.Id < backend.VocabularySize
            ? entry.Id
            : throw new InvalidDataException($"{entry.File}: {property} {entry.Id} is outside the tokenizer's vocabulary (size {backend.VocabularySize}).");
}
