using Cluster.Testing;

namespace Cluster.Engine.Tests.Training;

/// <summary>Paths of files committed with the repository (the default model, the held-out corpus).</summary>
internal static class RepositoryFiles
{
    public static string DefaultModel => RepositoryRoot.PathOf("models", "default");

    public static string HeldOutText => RepositoryRoot.PathOf("corpus", "kjv", "heldout.txt");
}
