using System.Text.RegularExpressions;
using System.Xml.Linq;
using Cluster.Testing;

namespace Cluster.Deployment.Tests;

/// <summary>One instruction of a Dockerfile: keyword, flags (<c>--from=x</c>), arguments, line.</summary>
public sealed record Instruction(string Keyword, Dictionary<string, string> Flags, string Args, int Line)
{
    /// <summary>Exec form (<c>["a", "b"]</c>) parsed as a JSON array, else null.</summary>
    public string[]? ExecForm()
    {
        if (!Args.TrimStart().StartsWith('[')) return null;
        try { return System.Text.Json.JsonSerializer.Deserialize<string[]>(Args); }
        catch (System.Text.Json.JsonException) { return null; }
    }

    /// <summary>Whitespace-separated words after the flags.</summary>
    public string[] Words => Args.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
}

public sealed record Stage(string? Name, string BaseImage, int Index, List<Instruction> Instructions);

/// <summary>
/// A Dockerfile parser covering what BuildKit accepts for these files: comments, parser directives, line
/// continuations, flags, stages; rejects unknown instructions and instructions before the first FROM (except ARG).
/// </summary>
public sealed class Dockerfile
{
    static readonly HashSet<string> Known =
    [
        "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG",
        "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    ];

    public string File { get; }
    public List<Instruction> GlobalArgs { get; } = [];
    public List<Stage> Stages { get; } = [];
    public List<string> Errors { get; } = [];

    public Dockerfile(string path)
    {
        File = RepositoryRoot.Relative(path);
        var lines = System.IO.File.ReadAllLines(path);
        var logical = new List<(string Text, int Line)>();
        var current = "";
        var start = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (current.Length == 0 && (line.TrimStart().StartsWith('#') || line.Trim().Length == 0)) continue;
            if (current.Length > 0 && line.TrimStart().StartsWith('#')) continue; // comments inside continuations
            if (current.Length == 0) start = i + 1;
            if (line.TrimEnd().EndsWith('\\'))
            {
                current += line.TrimEnd()[..^1] + " ";
                continue;
            }
            logical.Add((current + line, start));
            current = "";
        }
        if (current.Length > 0) Errors.Add($"{File}:{start}: the file ends inside a line continuation");

        foreach (var (text, line) in logical)
        {
            var m = Regex.Match(text.Trim(), @"^(\S+)\s*(.*)$");
            var keyword = m.Groups[1].Value.ToUpperInvariant();
            var rest = m.Groups[2].Value;
            var flags = new Dictionary<string, string>();
            while (Regex.Match(rest, @"^--([a-z-]+)(?:=(\S*))?\s*") is { Success: true } fm)
            {
                flags[fm.Groups[1].Value] = fm.Groups[2].Value;
                rest = rest[fm.Length..];
            }
            var ins = new Instruction(keyword, flags, rest.Trim(), line);
            if (!Known.Contains(keyword)) { Errors.Add($"{File}:{line}: unknown instruction '{keyword}'"); continue; }
            if (keyword == "FROM")
            {
                var words = ins.Words;
                string? name = null;
                if (words.Length == 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase)) name = words[2];
                else if (words.Length != 1) Errors.Add($"{File}:{line}: FROM takes 'image [AS name]', got '{ins.Args}'");
                if (name is not null && Stages.Any(s => s.Name == name)) Errors.Add($"{File}:{line}: stage name '{name}' used twice");
                Stages.Add(new Stage(name, words.Length > 0 ? words[0] : "", Stages.Count, []));
                Stages[^1].Instructions.Add(ins);
            }
            else if (Stages.Count == 0)
            {
                if (keyword == "ARG") GlobalArgs.Add(ins);
                else Errors.Add($"{File}:{line}: '{keyword}' before the first FROM (only ARG may come first)");
            }
            else Stages[^1].Instructions.Add(ins);
        }
        if (Stages.Count == 0) Errors.Add($"{File}: no FROM");
    }

    public Stage? StageNamed(string name) => Stages.FirstOrDefault(s => s.Name == name);

    public static string ArgName(Instruction arg) => arg.Args.Split('=')[0].Trim();

    /// <summary>Values of ARGs declared before the first FROM, with their defaults.</summary>
    public Dictionary<string, string?> GlobalArgDefaults() =>
        GlobalArgs.ToDictionary(ArgName, a => a.Args.Contains('=') ? a.Args[(a.Args.IndexOf('=') + 1)..].Trim() : null);

    public string ExpandGlobal(string text) =>
        Regex.Replace(text, @"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", m =>
        {
            var name = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value;
            return GlobalArgDefaults().TryGetValue(name, out var v) && v is not null ? v : m.Value;
        });
}

/// <summary>What the Dockerfiles build, read from the project files.</summary>
public static class Projects
{
    /// <summary>The assembly a project builds: its AssemblyName, else the project file's name.</summary>
    public static string AssemblyName(string csproj)
    {
        var doc = XDocument.Load(RepositoryRoot.PathOf(csproj));
        return doc.Descendants("AssemblyName").Select(e => e.Value.Trim()).FirstOrDefault()
               ?? Path.GetFileNameWithoutExtension(csproj);
    }

    /// <summary>The project and every project it references, transitively (repository-relative paths).</summary>
    public static SortedSet<string> Closure(string csproj)
    {
        var result = new SortedSet<string>(StringComparer.Ordinal);
        var todo = new Stack<string>([csproj]);
        while (todo.TryPop(out var p))
        {
            if (!result.Add(p)) continue;
            var doc = XDocument.Load(RepositoryRoot.PathOf(p));
            foreach (var r in doc.Descendants("ProjectReference"))
            {
                var full = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(RepositoryRoot.PathOf(p))!, r.Attribute("Include")!.Value));
                todo.Push(RepositoryRoot.Relative(full));
            }
        }
        return result;
    }

    public static IEnumerable<string> PackageReferences(string csproj) =>
        XDocument.Load(RepositoryRoot.PathOf(csproj)).Descendants("PackageReference").Select(e => e.Attribute("Include")!.Value);
}

/// <summary>Minimal .dockerignore matching (the patterns used here: globs with *, **, leading / and trailing /).</summary>
public sealed class DockerIgnore(IEnumerable<string> patterns)
{
    readonly List<(Regex Pattern, bool Negate)> _rules = patterns
        .Select(p => p.Trim()).Where(p => p.Length > 0 && !p.StartsWith('#'))
        .Select(p => (p.StartsWith('!') ? p[1..] : p, p.StartsWith('!')))
        .Select(t => (new Regex("^" + Glob(t.Item1.Trim('/')) + "(/.*)?$"), t.Item2)).ToList();

    public static DockerIgnore Load() =>
        new(File.Exists(RepositoryRoot.PathOf(".dockerignore")) ? File.ReadAllLines(RepositoryRoot.PathOf(".dockerignore")) : []);

    static string Glob(string p) =>
        Regex.Escape(p).Replace(@"\*\*/", "(.*/)?").Replace(@"\*\*", ".*").Replace(@"\*", "[^/]*").Replace(@"\?", "[^/]");

    public bool Excludes(string relative)
    {
        var excluded = false;
        foreach (var (pattern, negate) in _rules)
            if (pattern.IsMatch(relative.Trim('/'))) excluded = !negate;
        return excluded;
    }
}
