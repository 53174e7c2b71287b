using System.Collections;

namespace Cluster.ChatTemplates.Values;

/// <summary>From the caller's .NET objects (messages, <c>extra</c> variables) into template values.</summary>
internal static class ValueConversion
{
    public static Value FromObject(object? value, string name) => value switch
    {
        null => NoneValue.Instance,
        Value v => v,
        string s => new StringValue(s),
        bool b => BoolValue.Of(b),
        int or long or short or byte or sbyte or ushort or uint => new IntValue(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)),
        float or double or decimal => new FloatValue(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture)),
        ChatMessage m => Message(m),
        System.Text.Json.JsonElement json => FromJson(json, name),
        IEnumerable<KeyValuePair<string, object?>> d => new DictValue(new OrderedDictionary<string, Value>(
            d.Select(e => new KeyValuePair<string, Value>(e.Key, FromObject(e.Value, $"{name}.{e.Key}"))))),
        IDictionary d => new DictValue(new OrderedDictionary<string, Value>(
            d.Keys.Cast<object>().Select(k => new KeyValuePair<string, Value>(
                k as string ?? throw new ChatTemplateException($"variable '{name}' has a non-string dictionary key '{k}'", 0, 0),
                FromObject(d[k], $"{name}.{k}"))))),
        IEnumerable e => new ListValue(e.Cast<object?>().Select((item, i) => FromObject(item, $"{name}[{i}]")).ToList()),
        _ => throw new ChatTemplateException(
            $"variable '{name}' has type {value.GetType().Name}, which templates cannot use (pass strings, numbers, booleans, null, lists or string-keyed dictionaries)", 0, 0),
    };

    public static DictValue Message(ChatMessage message)
    {
        var fields = new OrderedDictionary<string, Value>
        {
            ["role"] = new StringValue(message.Role),
            ["content"] = new StringValue(message.Content),
        };
        foreach (var (name, value) in message.Fields ?? new Dictionary<string, object?>())
        {
            if (name is "role" or "content")
                throw new ArgumentException($"message field '{name}' is the message's own", nameof(message));
            fields[name] = FromObject(value, $"message.{name}");
        }
        return new(fields);
    }

    /// <summary>JSON as Python's json.loads gives it to a template: objects keep their key order, integers stay integers.</summary>
    private static Value FromJson(System.Text.Json.JsonElement json, string name) => json.ValueKind switch
    {
        System.Text.Json.JsonValueKind.Object => new DictValue(new OrderedDictionary<string, Value>(
            json.EnumerateObject().Select(p => new KeyValuePair<string, Value>(p.Name, FromJson(p.Value, $"{name}.{p.Name}"))))),
        System.Text.Json.JsonValueKind.Array => new ListValue(json.EnumerateArray().Select((item, i) => FromJson(item, $"{name}[{i}]")).ToList()),
        System.Text.Json.JsonValueKind.String => new StringValue(json.GetString()!),
        System.Text.Json.JsonValueKind.Number => json.TryGetInt64(out var integer) ? new IntValue(integer) : new FloatValue(json.GetDouble()),
        System.Text.Json.JsonValueKind.True => BoolValue.Of(true),
        System.Text.Json.JsonValueKind.False => BoolValue.Of(false),
        _ => NoneValue.Instance,
    };

    public static StringValue String(string text) => text.Length == 0 ? StringValue.Empty : new StringValue(text);
}
