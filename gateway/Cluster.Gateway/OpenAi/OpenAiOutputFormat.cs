using System.Text.Json;
using Cluster.Contracts.Api;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// What an OpenAI request says its output must be, as the gRPC API's response_format fields: OpenAI's
/// <c>response_format</c>, or vLLM's guided decoding extras. Shapes only; the validator compiles what they carry.
/// </summary>
internal static class OpenAiOutputFormat
{
    /// <summary>Sets <paramref name="sampling"/>'s response_format (and its schema or pattern) from the request.</summary>
    public static void Read(OpenAiJson json, SamplingParameters sampling)
    {
        ReadResponseFormat(json, sampling);
        ReadGuidedDecoding(json, sampling);
    }

    /// <summary>
    /// OpenAI's <c>response_format</c>: <c>{"type": "text"}</c> (the default), <c>{"type": "json_object"}</c> (JSON mode),
    /// or <c>{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}, "strict": ...}}</c> (structured
    /// outputs: the schema's text goes to the validator, which compiles it; the output is always held to it, strict
    /// or not, and the name and description play no part).
    /// </summary>
    private static void ReadResponseFormat(OpenAiJson json, SamplingParameters sampling)
    {
        switch (json.Element("response_format"))
        {
            case null:
                sampling.ResponseFormat = ResponseFormat.Text;
                return;
            case { ValueKind: JsonValueKind.Object } format:
                var body = new OpenAiJson(format);
                switch (body.String("type"))
                {
                    case null or "text":
                        sampling.ResponseFormat = ResponseFormat.Text;
                        return;
                    case "json_object":
                        sampling.ResponseFormat = ResponseFormat.JsonObject;
                        return;
                    case "json_schema":
                        var schema = body.Element("json_schema") switch
                        {
                            { ValueKind: JsonValueKind.Object } wrapper => new OpenAiJson(wrapper).Element("schema"),
                            null => throw OpenAiError.BadRequest("response_format.json_schema is required with type \"json_schema\" (an object with the schema in \"schema\")", "response_format"),
                            { } other => throw OpenAiJson.WrongType("response_format.json_schema", "an object", other),
                        };
                        sampling.ResponseFormat = ResponseFormat.JsonSchema;
                        sampling.JsonSchema = schema is { ValueKind: JsonValueKind.Object or JsonValueKind.True } given
                            ? given.GetRawText()
                            : throw OpenAiError.BadRequest("response_format.json_schema.schema is required: the JSON Schema object the output must satisfy", "response_format");
                        return;
                    case var type:
                        throw OpenAiError.BadRequest($"response_format.type \"{type}\" is not supported (\"text\", \"json_object\" or \"json_schema\")", "response_format");
                }
            case { } other:
                throw OpenAiJson.WrongType("response_format", "an object", other);
        }
    }

    /// <summary>
    /// vLLM's guided decoding extras: <c>guided_json</c> (a schema, as an object or its text), <c>guided_regex</c> and
    /// <c>guided_choice</c> (a list of strings, one of which is the whole answer), or the same as vLLM's newer
    /// <c>structured_outputs</c> object (<c>json</c>, <c>regex</c>, <c>choice</c>). One of them, and not beside a
    /// response_format other than text.
    /// </summary>
    private static void ReadGuidedDecoding(OpenAiJson json, SamplingParameters sampling)
    {
        var given = new List<(string Field, JsonElement Value)>();
        foreach (var field in (string[])["guided_json", "guided_regex", "guided_choice"])
        {
            if (json.Element(field) is { } value)
            {
                given.Add((field, value));
            }
        }
        if (json.Element("structured_outputs") is { } structured)
        {
            var body = structured.ValueKind == JsonValueKind.Object ? new OpenAiJson(structured) : throw OpenAiJson.WrongType("structured_outputs", "an object", structured);
            foreach (var field in (string[])["json", "regex", "choice"])
            {
                if (body.Element(field) is { } value)
                {
                    given.Add(($"structured_outputs.{field}", value));
                }
            }
        }
        if (given.Count == 0)
        {
            return;
        }
        var (name, guide) = given[0];
        if (given.Count > 1 || sampling.ResponseFormat != ResponseFormat.Text)
        {
            var others = given.Skip(1).Select(g => g.Field).Concat(sampling.ResponseFormat != ResponseFormat.Text ? ["response_format"] : []);
            throw OpenAiError.BadRequest($"{name} cannot be combined with {string.Join(", ", others)}: give one output format", name.Split('.')[0]);
        }
        switch (name.Split('.')[^1].Replace("guided_", "", StringComparison.Ordinal))
        {
            case "json":
                sampling.ResponseFormat = ResponseFormat.JsonSchema;
                sampling.JsonSchema = guide.ValueKind switch
                {
                    JsonValueKind.String => guide.GetString()!,
                    JsonValueKind.Object or JsonValueKind.True => guide.GetRawText(),
                    _ => throw OpenAiJson.WrongType(name, "a JSON Schema (an object or its text)", guide),
                };
                return;
            case "regex":
                sampling.ResponseFormat = ResponseFormat.Regex;
                sampling.Regex = guide.ValueKind == JsonValueKind.String ? guide.GetString()! : throw OpenAiJson.WrongType(name, "a regular expression", guide);
                return;
            default: // choice
                if (guide.ValueKind != JsonValueKind.Array || guide.GetArrayLength() == 0 || !guide.EnumerateArray().All(c => c.ValueKind == JsonValueKind.String))
                {
                    throw OpenAiJson.WrongType(name, "a non-empty array of strings", guide);
                }
                sampling.ResponseFormat = ResponseFormat.Regex;
                sampling.Regex = string.Join('|', guide.EnumerateArray().Select(c => EscapeForRegex(c.GetString()!)));
                return;
        }
    }

    /// <summary>A literal text as a regular expression that matches only it.</summary>
    private static string EscapeForRegex(string text) =>
        string.Concat(text.Select(c => "\\^$.|?*+()[]{}/-".Contains(c) ? $"\\{c}" : c.ToString()));
}
