namespace Cluster.Testing;

/// <summary>The repository root (the folder holding Cluster.sln), found from the test binaries upward: where committed files such as models/default are.</summary>
public static class RepositoryRoot
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(directory.FullName, "Cluster.sln")))
            {
                return directory.FullName;
            }
        }
        throw new DirectoryNotFoundException($"No Cluster.sln above {AppContext.BaseDirectory}.");
    });

    public static string Path => Root.Value;

    /// <summary><paramref name="relative"/> (e.g. "models/default") under the root.</summary>
    public static string PathOf(params string[] relative) => System.IO.Path.Combine([Root.Value, .. relative]);

    /// <summary><paramref name="path"/> relative to the root, with forward slashes (as the repository's files name each other).</summary>
    public static string Relative(string path) => System.IO.Path.GetRelativePath(Root.Value, path).Replace('\\', '/');
}
