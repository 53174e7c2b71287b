using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Cluster.Tokenizers;

/// <summary>
/// Reads a Hugging Face tokenizer.json that describes a byte-level BPE model (GPT-2, Llama 3, Qwen2, SmolLM2).
/// Anything this reader would silently get wrong (an unknown pre-tokenizer or normalizer) is an error instead,
/// because a tokenizer that is slightly off produces plausible but wrong ids.
/// </summary>
internal static class HuggingFaceTokenizerJson
{
    /// <summary>
    /// The model, or null when the file is a valid tokenizer.json whose model is not byte-level BPE (Llama 2 / TinyLlama
    /// ship a SentencePiece-style BPE there; their tokenizer.model is read instead).
    /// </summary>
    public static ByteLevelBpeModel? ReadByteLevelBpe(string path)
    {
        JsonObject root = JsonFile.ReadObjectIfExists(path) ?? throw new FileNotFoundException($"{path} does not exist.", path);
        if (root["model"] is not JsonObject model)
        {
            throw new InvalidDataException($"{path} has no \"model\" object; it does not look like a Hugging Face tokenizer.json.");
        }

        string? type = JsonFile.String(model["type"], path, "model.type");
        if (type is not null && type != "BPE")
        {
            return null;
        }

        if (!MentionsByteLevel(root["pre_tokenizer"]) && !MentionsByteLevel(root["decoder"]))
        {
            return null;
        }

        if (model["vocab"] is not JsonObject vocab)
        {
            throw new InvalidDataException($"{path}: \"model.vocab\" must be an object mapping token to id.");
        }

        return new ByteLevelBpeModel(
            path,
            Gpt2VocabAndMerges.ReadVocabulary(vocab, path, "model.vocab"),
            ReadMerges(model["merges"], path),
            ReadPreTokenizerPattern(root["pre_tokenizer"], path),
            ReadNormalization(root["normalizer"], path),
            ReadAddedTokens(root["added_tokens"], path),
            ReadTemplateBosToken(root["post_processor"]));
    }

    private static bool MentionsByteLevel(JsonNode? node) => node switch
    {
        JsonObject obj => (obj["type"] is JsonValue t && t.TryGetValue(out string? s) && s == "ByteLevel")
            || obj.Any(p => MentionsByteLevel(p.Value)),
        JsonArray array => array.Any(MentionsByteLevel),
        _ => false,
    };

    /// <summary>Merges come as "a b" strings (older files) or ["a", "b"] pairs (tokenizers 0.20+).</summary>
    private static List<string> ReadMerges(JsonNode? node, string path)
    {
        if (node is not JsonArray array)
        {
            throw new InvalidDataException($"{path}: \"model.merges\" must be an array.");
        }

        var merges = new List<string>(array.Count);
        for (int i = 0; i < array.Count; i++)
        {
            JsonNode? item = array[i];
            string? left = null, right = null;
            if (item is JsonValue value && value.TryGetValue(out string? pair))
            {
                string[] parts = pair.Split(' ');
                if (parts.Length == 2)
                {
                    (left, right) = (parts[0], parts[1]);
                }
            }
            else if (item is JsonArray pairArray && pairArray.Count == 2
                && pairArray[0] is JsonValue l && l.TryGetValue(out string? ls)
                && pairArray[1] is JsonValue r && r.TryGetValue(out string? rs))
            {
                (left, right) = (ls, rs);
            }

            // Byte-level pieces never contain a space (it is spelled 'Ġ'), so "a b" is unambiguous for the library.
            if (string.IsNullOrEmpty(left) || string.IsNullOrEmpty(right) || left.Contains(' ') || right.Contains(' '))
            {
                throw new InvalidDataException($"{path}: model.merges[{i}] must be \"a b\" or [\"a\", \"b\"] with two non-empty pieces without spaces, found {item?.ToJsonString() ?? "null"}.");
            }

            merges.Add(left + " " + right);
        }

        return merges;
    }

    /// <summary>
    /// Turns the pre-tokenizer into one regex: ByteLevel with use_regex is GPT-2's pattern; a Split with a regex
    /// (Llama 3, Qwen2, followed by ByteLevel without regex) is that regex.
    /// </summary>
    private static string ReadPreTokenizerPattern(JsonNode? node, string path)
    {
        var steps = new List<JsonObject>();
        Flatten(node, steps, path);

        string? wordPattern = null;
        foreach (JsonObject step in steps)
        {
            string? type = JsonFile.String(step["type"], path, "pre_tokenizer.type");
            switch (type)
            {
                case "ByteLevel":
                    if (JsonFile.Bool(step["add_prefix_space"], path, "pre_tokenizer.add_prefix_space") == true)
                    {
                        throw new InvalidDataException($"{path}: ByteLevel pre-tokenizer with add_prefix_space true is not supported.");
                    }

                    if (JsonFile.Bool(step["use_regex"], path, "pre_tokenizer.use_regex") ?? true)
                    {
                        wordPattern = CombineOnce(wordPattern, PreTokenizerPatterns.Gpt2, path);
                    }

                    break;
                case "Split":
                    wordPattern = CombineOnce(wordPattern, ReadSplitPattern(step, path), path);
                    break;
                default:
                    throw new InvalidDataException($"{path}: pre-tokenizer \"{type}\" is not supported (supported: ByteLevel, Split, a Sequence of them).");
            }
        }

        string pattern = wordPattern ?? PreTokenizerPatterns.WholeText;
        try
        {
            _ = new Regex(pattern);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: the pre-tokenizer regex is not valid in .NET: {e.Message}", e);
        }

        return pattern;
    }

    private static void Flatten(JsonNode? node, List<JsonObject> steps, string path)
    {
        if (node is null)
        {
            return;
        }

        if (node is not JsonObject obj)
        {
            throw new InvalidDataException($"{path}: \"pre_tokenizer\" must be an object.");
        }

        if (JsonFile.String(obj["type"], path, "pre_tokenizer.type") == "Sequence")
        {
            if (obj["pretokenizers"] is not JsonArray children)
            {
                throw new InvalidDataException($"{path}: a Sequence pre-tokenizer needs a \"pretokenizers\" array.");
            }

            foreach (JsonNode? child in children)
            {
                Flatten(child, steps, path);
            }
        }
        else
        {
            steps.Add(obj);
        }
    }

    private static string CombineOnce(string? existing, string pattern, string path) =>
        existing is null
            ? pattern
            : throw new InvalidDataException($"{path}: two regex-splitting pre-tokenizers in sequence (Split and ByteLevel with use_regex) are not supported.");

    private static string ReadSplitPattern(JsonObject split, string path)
    {
        string behavior = JsonFile.String(split["behavior"], path, "pre_tokenizer.behavior") ?? "Isolated";
        if (behavior != "Isolated" || JsonFile.Bool(split["invert"], path, "pre_tokenizer.invert") == true)
        {
            throw new InvalidDataException($"{path}: Split pre-tokenizer with behavior \"{behavior}\" (or invert) is not supported; only Isolated matches are.");
        }

        if (split["pattern"] is JsonObject pattern)
        {
            if (JsonFile.String(pattern["Regex"], path, "pre_tokenizer.pattern.Regex") is { } regex)
            {
                return regex;
            }

            if (JsonFile.String(pattern["String"], path, "pre_tokenizer.pattern.String") is { } literal)
            {
                return Regex.Escape(literal);
            }
        }

        throw new InvalidDataException($"{path}: Split pre-tokenizer needs \"pattern\": {{\"Regex\": ...}} or {{\"String\": ...}}.");
    }

    private static NormalizationForm? ReadNormalization(JsonNode? node, string path)
    {
        if (node is null)
        {
            return null;
        }

        string? type = node is JsonObject obj ? JsonFile.String(obj["type"], path, "normalizer.type") : null;
        return type switch
        {
            "NFC" => NormalizationForm.FormC,
            "NFKC" => NormalizationForm.FormKC,
            "NFD" => NormalizationForm.FormD,
            "NFKD" => NormalizationForm.FormKD,
            _ => throw new InvalidDataException($"{path}: normalizer {node.ToJsonString()} is not supported for byte-level BPE (supported: none, NFC, NFKC, NFD, NFKD)."),
        };
    }

    private static List<AddedToken> ReadAddedTokens(JsonNode? node, string path)
    {
        var tokens = new List<AddedToken>();
        if (node is null)
        {
            return tokens;
        }

        if (node is not JsonArray array)
        {
            throw new InvalidDataException($"{path}: \"added_tokens\" must be an array.");
        }

        foreach (JsonNode? item in array)
        {
            if (item is not JsonObject token
                || token["id"] is not JsonValue idValue || !idValue.TryGetValue(out int id) || id < 0
                || JsonFile.String(token["content"], path, "added_tokens.content") is not { Length: > 0 } content)
            {
                throw new InvalidDataException($"{path}: every entry of \"added_tokens\" needs a non-negative \"id\" and a non-empty \"content\", found {item?.ToJsonString() ?? "null"}.");
            }

            tokens.Add(new AddedToken(content, id, JsonFile.Bool(token["special"], path, "added_tokens.special") ?? false));
        }

        return tokens;
    }

    /// <summary>
    /// Llama 3 adds its BOS through the post-processor (TemplateProcessing: "&lt;|begin_of_text|&gt; $A"), not through
    /// add_bos_token; the token it puts first, if any.
    /// </summary>
    private static string? ReadTemplateBosToken(JsonNode? node)
    {
        if (node is not JsonObject obj)
        {
            return null;
        }

        if (obj["processors"] is JsonArray processors)
        {
            return processors.Select(ReadTemplateBosToken).FirstOrDefault(t => t is not null);
        }

        if (obj["type"] is JsonValue t && t.TryGetValue(out string? type) && type == "TemplateProcessing"
            && obj["single"] is JsonArray single && single.Count > 0
            && single[0] is JsonObject first && first["SpecialToken"] is JsonObject special
            && special["id"] is JsonValue id && id.TryGetValue(out string? content))
        {
            return content;
        }

        return null;
    }
}
