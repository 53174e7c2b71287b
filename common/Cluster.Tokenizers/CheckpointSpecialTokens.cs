using System.Text.Json.Nodes;

namespace Cluster.Tokenizers;

/// <summary>
/// What a checkpoint's JSON files say about BOS, EOS and special tokens. Hugging Face spreads this over four files
/// and real checkpoints disagree between them (Llama 3 Instruct stops on several ids that only generation_config.json
/// lists), so we read them all: token strings from tokenizer_config.json and special_tokens_map.json, ids from
/// generation_config.json and config.json.
/// </summary>
internal sealed class CheckpointSpecialTokens
{
    public string? BosToken { get; private set; }

    public string? EosToken { get; private set; }

    public bool? AddBosToken { get; private set; }

    /// <summary>tokenizer_config.json's added_tokens_decoder (id, content, special).</summary>
    public List<AddedToken> AddedTokens { get; } = [];

    /// <summary>bos_token, eos_token, unk_token and pad_token by name, as the first file that names each spells it.</summary>
    public Dictionary<string, string> NamedTokens { get; } = [];

    /// <summary>Every token string the files call special (bos, eos, unk, pad, additional_special_tokens).</summary>
    public List<string> SpecialTokenStrings { get; } = [];

    /// <summary>BOS ids from generation_config.json, then config.json, with the file each came from.</summary>
    public List<(int Id, string File)> BosIds { get; } = [];

    /// <summary>EOS ids from generation_config.json, then config.json, with the file each came from.</summary>
    public List<(int Id, string File)> EosIds { get; } = [];

    public static CheckpointSpecialTokens Read(string directory)
    {
        var result = new CheckpointSpecialTokens();

        string tokenizerConfigPath = Path.Combine(directory, "tokenizer_config.json");
        if (JsonFile.ReadObjectIfExists(tokenizerConfigPath) is { } tokenizerConfig)
        {
            result.ReadTokenStrings(tokenizerConfig, tokenizerConfigPath);
            result.AddBosToken = JsonFile.Bool(tokenizerConfig["add_bos_token"], tokenizerConfigPath, "add_bos_token");
            result.ReadAddedTokensDecoder(tokenizerConfig["added_tokens_decoder"], tokenizerConfigPath);
        }

        string specialTokensMapPath = Path.Combine(directory, "special_tokens_map.json");
        if (JsonFile.ReadObjectIfExists(specialTokensMapPath) is { } specialTokensMap)
        {
            result.ReadTokenStrings(specialTokensMap, specialTokensMapPath);
        }

        foreach (string file in new[] { "generation_config.json", "config.json" })
        {
            string path = Path.Combine(directory, file);
            if (JsonFile.ReadObjectIfExists(path) is { } config)
            {
                result.BosIds.AddRange(JsonFile.IntOrIntList(config["bos_token_id"], path, "bos_token_id").Select(id => (id, path)));
                result.EosIds.AddRange(JsonFile.IntOrIntList(config["eos_token_id"], path, "eos_token_id").Select(id => (id, path)));
            }
        }

        return result;
    }

    /// <summary>The first file that names a token wins (tokenizer_config.json is read before special_tokens_map.json).</summary>
    private void ReadTokenStrings(JsonObject file, string path)
    {
        BosToken ??= JsonFile.TokenContent(file["bos_token"], path, "bos_token");
        EosToken ??= JsonFile.TokenContent(file["eos_token"], path, "eos_token");
        foreach (string property in new[] { "bos_token", "eos_token", "unk_token", "pad_token" })
        {
            if (JsonFile.TokenContent(file[property], path, property) is { Length: > 0 } token)
            {
                SpecialTokenStrings.Add(token);
                NamedTokens.TryAdd(property, token);
            }
        }

        if (file["additional_special_tokens"] is JsonArray additional)
        {
            foreach (JsonNode? item in additional)
            {
                if (JsonFile.TokenContent(item, path, "additional_special_tokens") is { Length: > 0 } token)
                {
                    SpecialTokenStrings.Add(token);
                }
            }
        }
    }

    private void ReadAddedTokensDecoder(JsonNode? node, string path)
    {
        if (node is null)
        {
            return;
        }

        if (node is not JsonObject decoder)
        {
            throw new InvalidDataException($"{path}: \"added_tokens_decoder\" must be an object mapping id to token.");
        }

        foreach ((string key, JsonNode? value) in decoder)
        {
            if (!int.TryParse(key, out int id) || id < 0 || value is not JsonObject token
                || JsonFile.TokenContent(token, path, "added_tokens_decoder") is not { Length: > 0 } content)
            {
                throw new InvalidDataException($"{path}: added_tokens_decoder entry \"{key}\" must map a non-negative id to {{\"content\": ..., \"special\": ...}}.");
            }

            AddedTokens.Add(new AddedToken(content, id, JsonFile.Bool(token["special"], path, "added_tokens_decoder.special") ?? false));
        }
    }
}
