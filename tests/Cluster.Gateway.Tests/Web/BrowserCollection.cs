namespace Cluster.Gateway.Tests.Web;

/// <summary>
/// Browser tests run alone, after the parallel ones: Chromium takes the CPU for seconds at a time, and on a small
/// machine that starved other classes' tests whose client must act while a fast tiny model is still generating.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrowserCollection
{
    public const string Name = "Browser";
}
