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
            ReadPreTokenizer(root["pre_tokenizer"], path),
            ReadNormalizations(root["normalizer"], path),
            JsonFile.Bool(model["ignore_merges"], path, "model.ignore_merges") ?? false,
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
    /// The pre-tokenizer as steps: ByteLevel (add_prefix_space, use_regex), Split (Regex or String pattern, any
    /// behavior, invert), Digits (individual_digits), and Sequences of them, nested or not.
    /// </summary>
    internal static PreTokenizerSequence ReadPreTokenizer(JsonNode? node, string path)
    {
        var objects = new List<JsonObject>();
        Flatten(node, objects, path);

        var steps = new List<PreTokenizerStep>(objects.Count);
        foreach (JsonObject step in objects)
        {
            string? type = JsonFile.String(step["type"], path, "pre_tokenizer.type");
            steps.Add(type switch
            {
                // Hugging Face requires add_prefix_space; a file without it gets the GPT-2 behaviour, no prefix.
                "ByteLevel" => new ByteLevelStep(
                    JsonFile.Bool(step["add_prefix_space"], path, "pre_tokenizer.add_prefix_space") ?? false,
                    JsonFile.Bool(step["use_regex"], path, "pre_tokenizer.use_regex") ?? true),
                "Split" => ReadSplit(step, path),
                "Digits" => new DigitsStep(JsonFile.Bool(step["individual_digits"], path, "pre_tokenizer.individual_digits") ?? false),
                _ => throw new InvalidDataException($"{path}: pre-tokenizer \"{type}\" is not supported (supported: ByteLevel, Split, Digits, and a Sequence of them)."),
            });
        }

        return new PreTokenizerSequence(steps);
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

    private static SplitStep ReadSplit(JsonObject split, string path)
    {
        string behaviorName = JsonFile.String(split["behavior"], path, "pre_tokenizer.behavior") ?? "Isolated";
        if (!Enum.GetNames<SplitBehavior>().Contains(behaviorName) || !Enum.TryParse(behaviorName, out SplitBehavior behavior))
        {
            throw new InvalidDataException($"{path}: Split pre-tokenizer behavior \"{behaviorName}\" is not one of {string.Join(", ", Enum.GetNames<SplitBehavior>())}.");
        }

        bool invert = JsonFile.Bool(split["invert"], path, "pre_tokenizer.invert") ?? false;
        string pattern = split["pattern"] is JsonObject patternObject
            ? JsonFile.String(patternObject["Regex"], path, "pre_tokenizer.pattern.Regex")
                ?? (JsonFile.String(patternObject["String"], path, "pre_tokenizer.pattern.String") is { } literal ? Regex.Escape(literal) : null)
                ?? throw new InvalidDataException($"{path}: Split pre-tokenizer needs \"pattern\": {{\"Regex\": ...}} or {{\"String\": ...}}.")
            : throw new InvalidDataException($"{path}: Split pre-tokenizer needs \"pattern\": {{\"Regex\": ...}} or {{\"String\": ...}}.");

        try
        {
            return new SplitStep(new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant), behavior, invert);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{path}: the Split pre-tokenizer's regex is not valid in .NET: {e.Message}", e);
        }
    }

    /// <summary>A Unicode normalizer, or a Sequence of them, as the forms to apply in order.</summary>
    private static List<NormalizationForm> ReadNormalizations(JsonNode? node, string path)
    {
        var forms = new List<NormalizationForm>();
        AddNormalizations(node, path, forms);
        return forms;
    }

    private static void AddNormalizations(JsonNode? node, string path, List<NormalizationForm> forms)
    {
        if (node is null)
        {
            return;
        }

        string? type = node is JsonObject obj ? JsonFile.String(obj["type"], path, "normalizer.type") : null;
        if (type == "Sequence" && node["normalizers"] is JsonArray children)
        {
            foreach (JsonNode? child in children)
            {
                AddNormalizations(child, path, forms);
            }

            return;
        }

        forms.Add(type switch
        {
            "NFC" => NormalizationForm.FormC,
            "NFKC" => NormalizationForm.FormKC,
            "NFD" => NormalizationForm.FormD,
            "NFKD" => NormalizationForm.FormKD,
            _ => throw new InvalidDataException($"{path}: normalizer {node.ToJsonString()} is not supported for byte-level BPE (supported: none, NFC, NFKC, NFD, NFKD, and a Sequence of them)."),
        });
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
