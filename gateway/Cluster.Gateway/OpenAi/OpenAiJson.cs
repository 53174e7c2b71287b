using System.Text.Json;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// Reads the fields of an OpenAI request body: each getter returns null for an absent field or JSON null (the SDKs
/// send either for "not set") and refuses a value of the wrong type with a 400 naming the field and the type it needs.
/// </summary>
internal readonly struct OpenAiJson(JsonElement body)
{
    /// <summary>A request's body, which must be a JSON object.</summary>
    public static OpenAiJson Body(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object ? new(body) : throw OpenAiError.BadRequest("The request body must be a JSON object.", null);

    public bool Has(string field) => body.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null;

    public JsonElement? Element(string field) => body.TryGetProperty(field, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public string? String(string field) => Element(field) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } value => value.GetString(),
        { } other => throw WrongType(field, "a string", other),
    };

    public bool? Bool(string field) => Element(field) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        { } other => throw WrongType(field, "true or false", other),
    };

    public float? Float(string field) => Element(field) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } value when value.TryGetDouble(out var number) && double.IsFinite(number) => (float)number,
        { } other => throw WrongType(field, "a number", other),
    };

    public long? Integer(string field) => Element(field) switch
    {
        null => null,
        { ValueKind: JsonValueKind.Number } value when value.TryGetInt64(out var number) => number,
        { } other => throw WrongType(field, "an integer", other),
    };

    /// <summary>An integer that must lie in [min, max] (the limits of the field itself, not of a model).</summary>
    public long? Integer(string field, long min, long max) => Integer(field) switch
    {
        null => null,
        var value when value >= min && value <= max => value,
        var value => throw OpenAiError.BadRequest($"{field} must be in [{min}, {max}]; got {value}", field),
    };

    /// <summary>
    /// A message's text: a string, text parts of <paramref name="partTypes"/> joined (the models read text only; any
    /// other part is a 400 with <paramref name="param"/>), or nothing (empty). <paramref name="at"/> is the message's path.
    /// </summary>
    public string Text(string field, string at, string param, params string[] partTypes)
    {
        switch (Element(field))
        {
            case null:
                return "";
            case { ValueKind: JsonValueKind.String } text:
                return text.GetString()!;
            case { ValueKind: JsonValueKind.Array } parts:
                var joined = new System.Text.StringBuilder();
                var j = 0;
                foreach (var part in parts.EnumerateArray())
                {
                    var partField = $"{at}.{field}[{j++}]";
                    var body = part.ValueKind == JsonValueKind.Object ? new OpenAiJson(part) : throw WrongType(partField, "a content part object", part);
                    var type = body.String("type");
                    if (type is null || !partTypes.Contains(type))
                    {
                        throw OpenAiError.BadRequest($"{partField}.type must be {string.Join(" or ", partTypes.Select(t => $"\"{t}\""))}; this server's models read text only, got {(type is null ? "no type" : $"\"{type}\"")}", param);
                    }
                    joined.Append(body.String("text") ?? "");
                }
                return joined.ToString();
            case { } other:
                throw WrongType($"{at}.{field}", "a string or an array of text parts", other);
        }
    }

    /// <summary>A string or an array of strings (OpenAI's <c>stop</c>).</summary>
    public IReadOnlyList<string> Strings(string field) => Element(field) switch
    {
        null => [],
        { ValueKind: JsonValueKind.String } one => [one.GetString()!],
        { ValueKind: JsonValueKind.Array } many => [.. many.EnumerateArray().Select((item, i) => item.ValueKind == JsonValueKind.String
            ? item.GetString()!
            : throw WrongType($"{field}[{i}]", "a string", item))],
        { } other => throw WrongType(field, "a string or an array of strings", other),
    };

    public IReadOnlyList<int> Integers(string field) => Element(field) switch
    {
        null => [],
        { ValueKind: JsonValueKind.Array } many => Ids(many, field),
        { } other => throw WrongType(field, "an array of integers", other),
    };

    /// <summary>An array of token ids; each must be a 32-bit integer (whether it is in the vocabulary is the validator's check).</summary>
    public static IReadOnlyList<int> Ids(JsonElement array, string field) =>
        [.. array.EnumerateArray().Select((item, i) => item.ValueKind == JsonValueKind.Number && item.TryGetInt32(out var id)
            ? id
            : throw WrongType($"{field}[{i}]", "an integer token id", item))];

    public static Exception WrongType(string field, string expected, JsonElement got) =>
        OpenAiError.BadRequest($"{field} must be {expected}; got {Describe(got)}", field);

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => value.ValueKind.ToString().ToLowerInvariant(),
    };
}
