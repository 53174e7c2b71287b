namespace Cluster.Engine.Tests.Training;

/// <summary>Paths of files committed with the repository (the default model, the held-out corpus), found from the test binaries upward.</summary>
internal static class RepositoryFiles
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Cluster.sln")))
            {
                return directory.FullName;
            }
        }
        throw new DirectoryNotFoundException($"No Cluster.sln above {AppContext.BaseDirectory}.");
    });

    public static string DefaultModel => Path.Combine(Root.Value, "models", "default");

    public static string HeldOutText => Path.Combine(Root.Value, "corpus", "kjv", "heldout.txt");
}
