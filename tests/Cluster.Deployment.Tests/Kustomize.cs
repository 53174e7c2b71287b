using System.Text.Json.Nodes;
using Cluster.Testing;

namespace Cluster.Deployment.Tests;

/// <summary>A rendered Kubernetes object and the file it came from.</summary>
public sealed record K8sObject(JsonObject Node, string Source)
{
    public string Kind => Node.Str("kind") ?? "";
    public string ApiVersion => Node.Str("apiVersion") ?? "";
    public string Name => Node.At("metadata.name")?.ToString() ?? "";
    public string? Namespace => Node.At("metadata.namespace")?.ToString();
    public override string ToString() => $"{Source}: {Kind}/{Name}";
}

/// <summary>
/// Renders a kustomization the way <c>kustomize build</c> does for the features this repository uses:
/// <c>resources</c> (files and folders with a kustomization), <c>images</c> (newName/newTag/digest on pod
/// templates) and <c>patches</c> with a <c>target</c> and an inline or file JSON 6902 patch. Any other field, or a
/// strategic-merge patch, is rejected, so the manifests cannot use a feature this renderer would silently ignore.
/// A patch whose target matches nothing is an error too (kustomize would ignore it: a renamed object silently
/// loses its overlay).
/// </summary>
public static class Kustomize
{
    static readonly HashSet<string> Supported = ["apiVersion", "kind", "resources", "images", "patches"];
    static readonly HashSet<string> PodTemplateKinds = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"];

    public static List<K8sObject> Render(string dir)
    {
        var file = Path.Combine(RepositoryRoot.PathOf(dir), "kustomization.yaml");
        var where = RepositoryRoot.Relative(file);
        if (!File.Exists(file)) throw new InvalidOperationException($"{RepositoryRoot.Relative(RepositoryRoot.PathOf(dir))}: no kustomization.yaml");
        var k = Yaml.Load(file) as JsonObject ?? throw new InvalidOperationException($"{where}: not a mapping");
        foreach (var key in k.Select(p => p.Key))
            if (!Supported.Contains(key))
                throw new InvalidOperationException($"{where}: field '{key}' is not supported by the test renderer (supported: {string.Join(", ", Supported)})");
        if (k.Str("kind") != "Kustomization") throw new InvalidOperationException($"{where}: kind must be Kustomization");

        var objects = new List<K8sObject>();
        foreach (var resource in k.Arr("resources").Select(r => r!.ToString()))
        {
            var path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, resource));
            if (Directory.Exists(path)) objects.AddRange(Render(RepositoryRoot.Relative(path)));
            else if (File.Exists(path))
                foreach (var doc in Yaml.LoadAll(path))
                {
                    if (doc is null) continue;
                    if (doc is not JsonObject o) throw new InvalidOperationException($"{RepositoryRoot.Relative(path)}: a document is not a mapping");
                    objects.Add(new K8sObject(o, RepositoryRoot.Relative(path)));
                }
            else throw new InvalidOperationException($"{where}: resource '{resource}' does not exist");
        }
        var duplicates = objects.GroupBy(o => (o.Kind, o.Namespace, o.Name)).Where(g => g.Count() > 1).ToList();
        if (duplicates.Count > 0)
            throw new InvalidOperationException($"{where}: duplicate objects: {string.Join(", ", duplicates.Select(g => string.Join(" and ", g)))}");

        foreach (var (patch, i) in k.Objs("patches").Select((p, i) => (p, i)))
        {
            var at = $"{where}: patches[{i}]";
            var target = patch.Obj("target") ?? throw new InvalidOperationException($"{at}: no target (strategic-merge patches are not supported by the test renderer)");
            var text = patch.Str("patch") ?? (patch.Str("path") is { } p ? File.ReadAllText(Path.Combine(Path.GetDirectoryName(file)!, p)) : null)
                       ?? throw new InvalidOperationException($"{at}: neither 'patch' nor 'path'");
            if (Yaml.Parse(text) is not JsonArray ops) throw new InvalidOperationException($"{at}: not a JSON 6902 patch (a list of operations)");
            var matched = objects.Where(o => Matches(o, target)).ToList();
            if (matched.Count == 0) throw new InvalidOperationException($"{at}: target {target.ToJsonString()} matches no object");
            foreach (var o in matched)
                foreach (var (op, j) in ops.Select((op, j) => (op, j)))
                    JsonPatch.Apply(o.Node, (JsonObject)op!, $"{at}, operation {j} on {o}");
        }

        foreach (var (image, i) in k.Objs("images").Select((x, i) => (x, i)))
        {
            var name = image.Str("name") ?? throw new InvalidOperationException($"{where}: images[{i}] has no name");
            var used = false;
            foreach (var o in objects.Where(o => PodTemplateKinds.Contains(o.Kind)))
                foreach (var container in PodSpec(o)!.Objs("containers").Concat(PodSpec(o)!.Objs("initContainers")))
                {
                    var current = container.Str("image") ?? "";
                    var bare = current.Split('@')[0];
                    var colon = bare.LastIndexOf(':');
                    if (colon > bare.LastIndexOf('/')) bare = bare[..colon];
                    if (bare != name) continue;
                    used = true;
                    var result = image.Str("newName") ?? name;
                    if (image.Str("digest") is { } digest) result += "@" + digest;
                    else if (image["newTag"] is { } tag) result += ":" + tag;
                    else if (current.Length > bare.Length) result += current[bare.Length..];
                    container["image"] = result;
                }
            if (!used) throw new InvalidOperationException($"{where}: images[{i}] '{name}' matches no container image");
        }
        return objects;
    }

    public static JsonObject? PodSpec(K8sObject o) => o.Node.At("spec.template.spec") as JsonObject;

    static bool Matches(K8sObject o, JsonObject target) =>
        (target.Str("kind") is not { } kind || kind == o.Kind) &&
        (target.Str("name") is not { } name || name == o.Name) &&
        (target.Str("namespace") is not { } ns || ns == o.Namespace) &&
        (target.Str("version") is not { } v || o.ApiVersion.EndsWith(v)) &&
        (target.Str("group") is not { } g || o.ApiVersion.StartsWith(g + "/"));
}

/// <summary>RFC 6902 add / replace / remove / test on JsonNode trees (what kustomize's JSON patches use).</summary>
public static class JsonPatch
{
    public static void Apply(JsonObject root, JsonObject op, string where)
    {
        var kind = op.Str("op");
        var path = op.Str("path") ?? throw new InvalidOperationException($"{where}: no path");
        var tokens = path.Split('/').Skip(1).Select(t => t.Replace("~1", "/").Replace("~0", "~")).ToList();
        if (tokens.Count == 0) throw new InvalidOperationException($"{where}: the root cannot be patched");
        JsonNode parent = root;
        foreach (var t in tokens[..^1])
        {
            parent = parent switch
            {
                JsonObject o when o[t] is { } child => child,
                JsonArray a when int.TryParse(t, out var n) && n >= 0 && n < a.Count && a[n] is { } child => child,
                _ => throw new InvalidOperationException($"{where}: path {path}: '{t}' does not exist"),
            };
        }
        var last = tokens[^1];
        var value = op["value"]?.DeepClone();
        switch (kind, parent)
        {
            case ("add", JsonObject o):
                o[last] = value;
                break;
            case ("add", JsonArray a):
                if (last == "-") a.Add(value);
                else if (int.TryParse(last, out var n) && n >= 0 && n <= a.Count) a.Insert(n, value);
                else throw new InvalidOperationException($"{where}: path {path}: bad index '{last}'");
                break;
            case ("replace" or "remove" or "test", JsonObject o):
                if (!o.ContainsKey(last)) throw new InvalidOperationException($"{where}: path {path} does not exist ('{kind}' needs an existing value)");
                if (kind == "replace") o[last] = value;
                else if (kind == "remove") o.Remove(last);
                else if (!JsonNode.DeepEquals(o[last], value)) throw new InvalidOperationException($"{where}: test failed at {path}");
                break;
            case ("replace" or "remove" or "test", JsonArray a):
                if (!int.TryParse(last, out var i) || i < 0 || i >= a.Count) throw new InvalidOperationException($"{where}: path {path}: no element '{last}'");
                if (kind == "replace") a[i] = value;
                else if (kind == "remove") a.RemoveAt(i);
                else if (!JsonNode.DeepEquals(a[i], value)) throw new InvalidOperationException($"{where}: test failed at {path}");
                break;
            default:
                throw new InvalidOperationException($"{where}: operation '{kind}' is not supported (add, replace, remove, test)");
        }
    }
}
