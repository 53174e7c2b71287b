using System.Text.Json.Nodes;

namespace Cluster.Tokenizers.Tests;

/// <summary>
/// The pre_tokenizer / normalizer blocks of real checkpoints' tokenizer.json, written as those files spell them
/// (reconstructed from the Hugging Face hub files; the regexes are the ones the files carry, JSON-escaped).
/// Fixtures put them on the GPT-2 vocabulary: the pre-tokenizer decides the word boundaries, which is what is tested.
/// </summary>
internal static class HuggingFaceBlocks
{
    /// <summary>HuggingFaceTB/SmolLM2-135M tokenizer.json, "pre_tokenizer" (normalizer null).</summary>
    public const string SmolLm2PreTokenizer = """
        {
          "type": "Sequence",
          "pretokenizers": [
            {
              "type": "Digits",
              "individual_digits": true
            },
            {
              "type": "ByteLevel",
              "add_prefix_space": false,
              "trim_offsets": true,
              "use_regex": true
            }
          ]
        }
        """;

    /// <summary>meta-llama/Meta-Llama-3-8B tokenizer.json, "pre_tokenizer" (normalizer null; model has "ignore_merges": true).</summary>
    public const string Llama3PreTokenizer = """
        {
          "type": "Sequence",
          "pretokenizers": [
            {
              "type": "Split",
              "pattern": {
                "Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
              },
              "behavior": "Isolated",
              "invert": false
            },
            {
              "type": "ByteLevel",
              "add_prefix_space": false,
              "trim_offsets": true,
              "use_regex": false
            }
          ]
        }
        """;

    /// <summary>Qwen/Qwen2-7B tokenizer.json, "pre_tokenizer": Llama 3's regex but one digit at a time.</summary>
    public const string Qwen2PreTokenizer = """
        {
          "type": "Sequence",
          "pretokenizers": [
            {
              "type": "Split",
              "pattern": {
                "Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
              },
              "behavior": "Isolated",
              "invert": false
            },
            {
              "type": "ByteLevel",
              "add_prefix_space": false,
              "trim_offsets": false,
              "use_regex": false
            }
          ]
        }
        """;

    /// <summary>Qwen/Qwen2-7B tokenizer.json, "normalizer".</summary>
    public const string Qwen2Normalizer = """
        {
          "type": "NFC"
        }
        """;

    /// <summary>A GPT-2 derived tokenizer whose ByteLevel pre-tokenizer adds a prefix space (as RoBERTa-style exports do).</summary>
    public const string ByteLevelWithPrefixSpace = """
        {
          "type": "ByteLevel",
          "add_prefix_space": true,
          "trim_offsets": true,
          "use_regex": true
        }
        """;

    public static JsonObject Parse(string block) => JsonNode.Parse(block)!.AsObject();

    /// <summary>SmolLM2's layout on the given tokenizer.json.</summary>
    public static void MakeSmolLm2(JsonObject json) => json["pre_tokenizer"] = Parse(SmolLm2PreTokenizer);

    /// <summary>Llama 3's layout: its Split + ByteLevel, no normalizer, ignore_merges.</summary>
    public static void MakeLlama3(JsonObject json)
    {
        json["pre_tokenizer"] = Parse(Llama3PreTokenizer);
        json["normalizer"] = null;
        json["model"]!["ignore_merges"] = true;
    }

    /// <summary>Qwen2's layout: NFC, its Split + ByteLevel, merges applied as usual.</summary>
    public static void MakeQwen2(JsonObject json)
    {
        json["pre_tokenizer"] = Parse(Qwen2PreTokenizer);
        json["normalizer"] = Parse(Qwen2Normalizer);
        json["model"]!["ignore_merges"] = false;
    }
}
