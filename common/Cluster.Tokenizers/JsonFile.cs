using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cluster.Tokenizers;

/// <summary>
/// Reads the JSON files of a checkpoint. Every failure names the file, because a user pointing the gateway at a
/// checkpoint directory needs to know which of its files is wrong, not that "a JSON token was invalid".
/// </summary>
internal static class JsonFile
{
    /// <summary>The parsed object, or null when the file does not exist.</summary>
    public static JsonObject? ReadObjectIfExists(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        JsonNode? node;
        try
        {
            using FileStream stream = File.OpenRead(path);
            node = JsonNode.Parse(stream, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }

        return node as JsonObject ?? throw new InvalidDataException($"{path} must hold a JSON object at the top level.");
    }

    /// <summary>A string property, or a {"content": "..."} object as tokenizer_config.json writes added tokens.</summary>
    public static string? TokenContent(JsonNode? node, string path, string property)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonValue value when value.TryGetValue(out string? text):
                return text;
            case JsonObject obj when obj["content"] is JsonValue content && content.TryGetValue(out string? text):
                return text;
            default:
                throw new InvalidDataException($"{path}: \"{property}\" must be a string or an object with a \"content\" string, not {node.ToJsonString()}.");
        }
    }

    /// <summary>An int, a list of ints, or null (config.json's eos_token_id takes all three forms).</summary>
    public static IReadOnlyList<int> IntOrIntList(JsonNode? node, string path, string property)
    {
        switch (node)
        {
            case null:
                return [];
            case JsonValue value when value.TryGetValue(out int id):
                return [id];
            case JsonArray array:
                var ids = new List<int>(array.Count);
                foreach (JsonNode? item in array)
                {
                    if (item is not JsonValue v || !v.TryGetValue(out int itemId))
                    {
                        throw new InvalidDataException($"{path}: \"{property}\" must hold integers, found {item?.ToJsonString() ?? "null"}.");
                    }

                    ids.Add(itemId);
                }

                return ids;
            default:
                throw new InvalidDataException($"{path}: \"{property}\" must be an integer or a list of integers, not {node.ToJsonString()}.");
        }
    }

    public static bool? Bool(JsonNode? node, string path, string property) => node switch
    {
        null => null,
        JsonValue value when value.TryGetValue(out bool b) => b,
        _ => throw new InvalidDataException($"{path}: \"{property}\" must be true or false, not {node.ToJsonString()}."),
    };

    public static string? String(JsonNode? node, string path, string property) => node switch
    {
        null => null,
        JsonValue value when value.TryGetValue(out string? s) => s,
        _ => throw new InvalidDataException($"{path}: \"{property}\" must be a string, not {node.ToJsonString()}."),
    };
}
