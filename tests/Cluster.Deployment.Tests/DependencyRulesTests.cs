using System.Text.RegularExpressions;
using System.Xml.Linq;
using Cluster.Testing;

namespace Cluster.Deployment.Tests;

/// <summary>
/// The dependency rules of docs/ARCHITECTURE.md, checked on the source: which product project may reference which,
/// and no cycle between the namespaces of a product project. A new project must be added to <see cref="Allowed"/>
/// (and to the document) before it builds green.
/// </summary>
public sealed partial class DependencyRulesTests
{
    /// <summary>Every product project and the product projects it may reference. Test projects (tests/) may reference anything.</summary>
    internal static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["contracts/Cluster.Contracts"] = [],
        ["common/Cluster.Tokenizers"] = [],
        ["common/Cluster.ChatTemplates"] = [],
        ["common/Cluster.Hosting"] = ["contracts/Cluster.Contracts"],
        ["silo/Cluster.Kernels"] = [],
        ["common/Cluster.JsonSchemas"] = [],
        ["silo/Cluster.Engine"] = ["silo/Cluster.Kernels", "common/Cluster.JsonSchemas"],
        ["silo/Cluster.Engine.Training"] = ["silo/Cluster.Engine"],
        ["silo/Cluster.Engine.Cli"] = ["silo/Cluster.Engine", "silo/Cluster.Engine.Training", "common/Cluster.Tokenizers"],
        ["silo/Cluster.Silo"] = ["silo/Cluster.Engine", "contracts/Cluster.Contracts", "common/Cluster.Hosting", "common/Cluster.Tokenizers"],
        ["gateway/Cluster.Gateway"] = ["contracts/Cluster.Contracts", "common/Cluster.Tokenizers", "common/Cluster.Hosting", "common/Cluster.ChatTemplates", "common/Cluster.JsonSchemas"],
        ["gateway/Cluster.Client"] = ["contracts/Cluster.Contracts"],
    };

    private static IEnumerable<string> ProductProjects() =>
        new[] { "contracts", "common", "silo", "gateway" }
            .SelectMany(top => Directory.EnumerateFiles(RepositoryRoot.PathOf(top), "*.csproj", SearchOption.AllDirectories))
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(p => RepositoryRoot.Relative(Path.GetDirectoryName(p)!));

    [Fact]
    public void EveryProductProjectHasARule()
    {
        var missing = ProductProjects().Where(p => !Allowed.ContainsKey(p)).ToList();
        Assert.True(missing.Count == 0, $"Product projects without a dependency rule (add them to DependencyRulesTests.Allowed and docs/ARCHITECTURE.md): {string.Join(", ", missing)}");
    }

    [Fact]
    public void ProjectReferencesFollowTheRules()
    {
        var violations = new List<string>();
        foreach (var project in ProductProjects())
        {
            var csproj = Directory.EnumerateFiles(RepositoryRoot.PathOf(project), "*.csproj").Single();
            var references = XDocument.Load(csproj).Descendants("ProjectReference")
                .Select(r => RepositoryRoot.Relative(Path.GetDirectoryName(Path.GetFullPath(Path.Combine(RepositoryRoot.PathOf(project), r.Attribute("Include")!.Value)))!));
            var allowed = Allowed.GetValueOrDefault(project, []);
            violations.AddRange(references.Where(r => !allowed.Contains(r)).Select(r => $"{project} -> {r}"));
        }
        Assert.True(violations.Count == 0, $"Project references the rules do not allow: {string.Join("; ", violations)}");
    }

    [Fact]
    public void NoNamespaceCyclesInsideAProject()
    {
        var cycles = new List<string>();
        foreach (var project in ProductProjects())
        {
            var graph = NamespaceGraph(RepositoryRoot.PathOf(project));
            cycles.AddRange(StronglyConnected(graph).Where(c => c.Count > 1).Select(c => $"{project}: {string.Join(" <-> ", c.Order())}"));
        }
        Assert.True(cycles.Count == 0, $"Namespaces that depend on each other (make one of them depend on the other only): {string.Join("; ", cycles)}");
    }

    [Fact]
    public void TheCycleCheckFindsACycle()
    {
        var graph = new Dictionary<string, HashSet<string>>
        {
            ["A"] = ["B"],
            ["B"] = ["C"],
            ["C"] = ["A"],
            ["D"] = ["A"],
        };

        var cycles = StronglyConnected(graph).Where(c => c.Count > 1).ToList();

        Assert.Equal(["A", "B", "C"], Assert.Single(cycles).Order());
    }

    /// <summary>Namespace → the namespaces of the same assembly its files import with <c>using</c>.</summary>
    private static Dictionary<string, HashSet<string>> NamespaceGraph(string projectDirectory)
    {
        var files = Directory.EnumerateFiles(projectDirectory, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(f => File.ReadAllText(f))
            .ToList();
        var declared = files.Select(text => NamespaceDeclaration().Match(text)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToHashSet();
        var graph = declared.ToDictionary(n => n, _ => new HashSet<string>());
        foreach (var text in files)
        {
            if (NamespaceDeclaration().Match(text) is not { Success: true } declaration)
            {
                continue;
            }
            var from = declaration.Groups[1].Value;
            foreach (Match use in UsingDirective().Matches(text))
            {
                var to = use.Groups[1].Value;
                if (to != from && declared.Contains(to))
                {
                    graph[from].Add(to);
                }
            }
        }
        return graph;
    }

    /// <summary>Tarjan's strongly connected components.</summary>
    private static List<List<string>> StronglyConnected(Dictionary<string, HashSet<string>> graph)
    {
        var index = new Dictionary<string, int>();
        var low = new Dictionary<string, int>();
        var stack = new Stack<string>();
        var onStack = new HashSet<string>();
        var components = new List<List<string>>();
        void Visit(string v)
        {
            index[v] = low[v] = index.Count;
            stack.Push(v);
            onStack.Add(v);
            foreach (var w in graph.GetValueOrDefault(v, []))
            {
                if (!index.ContainsKey(w))
                {
                    Visit(w);
                    low[v] = Math.Min(low[v], low[w]);
                }
                else if (onStack.Contains(w))
                {
                    low[v] = Math.Min(low[v], index[w]);
                }
            }
            if (low[v] == index[v])
            {
                var component = new List<string>();
                string w;
                do
                {
                    w = stack.Pop();
                    onStack.Remove(w);
                    component.Add(w);
                }
                while (w != v);
                components.Add(component);
            }
        }
        foreach (var v in graph.Keys)
        {
            if (!index.ContainsKey(v))
            {
                Visit(v);
            }
        }
        return components;
    }

    [GeneratedRegex(@"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"^using\s+(?:static\s+)?([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex UsingDirective();
}
