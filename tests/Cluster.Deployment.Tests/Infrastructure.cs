using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using Cluster.Testing;

namespace Cluster.Deployment.Tests;

/// <summary>
/// YAML to <see cref="JsonNode"/> with YAML 1.2 core-schema scalars: plain <c>12</c> is a number, plain
/// <c>true</c> a boolean, plain <c>null</c>/<c>~</c>/empty is null, quoted scalars are strings. Keeps the
/// distinction Kubernetes cares about (an env value or a label must be a string). Resolves aliases and merge keys
/// (<c>&lt;&lt;: *anchor</c>), which docker-compose files use.
/// </summary>
public static class Yaml
{
    public static List<JsonNode?> LoadAll(string path)
    {
        var stream = new YamlStream();
        try
        {
            using var reader = new StringReader(File.ReadAllText(path));
            stream.Load(reader);
        }
        catch (YamlException e)
        {
            throw new InvalidOperationException($"{RepositoryRoot.Relative(path)}: YAML syntax error at {e.Start}: {e.Message}", e);
        }
        return stream.Documents.Select(d => Convert(d.RootNode)).ToList();
    }

    public static JsonNode? Load(string path)
    {
        var docs = LoadAll(path);
        if (docs.Count != 1)
            throw new InvalidOperationException($"{RepositoryRoot.Relative(path)}: expected one YAML document, found {docs.Count}.");
        return docs[0];
    }

    public static JsonNode? Parse(string text)
    {
        var stream = new YamlStream();
        using var reader = new StringReader(text);
        stream.Load(reader);
        return stream.Documents.Count == 0 ? null : Convert(stream.Documents[0].RootNode);
    }

    static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlScalarNode s => Scalar(s),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(Convert).ToArray()),
        YamlMappingNode map => Mapping(map),
        _ => throw new InvalidOperationException($"Unsupported YAML node at {node.Start}."),
    };

    static JsonObject Mapping(YamlMappingNode map)
    {
        var result = new JsonObject();
        // Merge keys first, so explicit keys override them.
        foreach (var (key, value) in map.Children)
        {
            if (key is YamlScalarNode { Value: "<<" })
            {
                var sources = value is YamlSequenceNode seq ? seq.Children : [value];
                foreach (var source in sources)
                    foreach (var (k, v) in Mapping((YamlMappingNode)source))
                        result[k] = v?.DeepClone();
            }
        }
        foreach (var (key, value) in map.Children)
        {
            if (key is YamlScalarNode { Value: "<<" }) continue;
            var name = ((YamlScalarNode)key).Value ?? "";
            if (map.Children.Count(c => ((YamlScalarNode)c.Key).Value == name) > 1)
                throw new InvalidOperationException($"Duplicate key '{name}' at {key.Start}.");
            result[name] = Convert(value);
        }
        return result;
    }

    static JsonNode? Scalar(YamlScalarNode s)
    {
        var v = s.Value ?? "";
        if (s.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
            return JsonValue.Create(v);
        if (v is "" or "~" or "null" or "Null" or "NULL") return null;
        if (v is "true" or "True" or "TRUE") return JsonValue.Create(true);
        if (v is "false" or "False" or "FALSE") return JsonValue.Create(false);
        if (long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)) return JsonValue.Create(l);
        if (System.Text.RegularExpressions.Regex.IsMatch(v, @"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$"))
            return JsonValue.Create(double.Parse(v, CultureInfo.InvariantCulture));
        return JsonValue.Create(v);
    }
}

/// <summary>Small helpers over JsonNode trees.</summary>
public static class J
{
    public static string? Str(this JsonNode? node, string key) =>
        node is JsonObject o && o[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    public static JsonObject? Obj(this JsonNode? node, string key) => node is JsonObject o ? o[key] as JsonObject : null;

    public static JsonArray Arr(this JsonNode? node, string key) => node is JsonObject o && o[key] is JsonArray a ? a : [];

    public static IEnumerable<JsonObject> Objs(this JsonNode? node, string key) => node.Arr(key).OfType<JsonObject>();

    public static long? Int(this JsonNode? node, string key) =>
        node is JsonObject o && o[key] is JsonValue v && v.TryGetValue<long>(out var l) ? l : null;

    public static bool IsString(this JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out _);

    public static Dictionary<string, string> StringMap(this JsonNode? node, string key) =>
        node.Obj(key)?.Where(p => p.Value.IsString()).ToDictionary(p => p.Key, p => p.Value!.GetValue<string>()) ?? [];

    /// <summary>Navigates a dotted path ("spec.template.spec"); null when any step is missing.</summary>
    public static JsonNode? At(this JsonNode? node, string path)
    {
        foreach (var part in path.Split('.'))
            node = node is JsonObject o ? o[part] : null;
        return node;
    }
}

/// <summary>Collects every violation and fails once, listing them all (file, object, field, what is wrong).</summary>
public sealed class Problems
{
    readonly List<string> _items = [];

    public void Add(string where, string message) => _items.Add($"{where}: {message}");

    public void Check(bool ok, string where, string message)
    {
        if (!ok) Add(where, message);
    }

    public IReadOnlyList<string> Items => _items;

    public void AssertNone(string what)
    {
        if (_items.Count > 0)
            Assert.Fail($"{what}: {_items.Count} problem(s):\n  " + string.Join("\n  ", _items));
    }
}
