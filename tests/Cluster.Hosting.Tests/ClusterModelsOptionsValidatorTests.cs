using Microsoft.Extensions.Configuration;

namespace Cluster.Hosting.Tests;

/// <summary>The one check of <c>Cluster:Models</c>: every bad setting is reported with its key, its limit and the value seen.</summary>
public sealed class ClusterModelsOptionsValidatorTests
{
    private static IReadOnlyList<string> Failures(params ModelDeployment[] models)
    {
        var result = new ClusterModelsOptionsValidator().Validate(null, new ClusterModelsOptions { Models = [.. models] });
        return result.Failed ? [.. result.Failures!] : [];
    }

    [Fact]
    public void AValidListPasses()
    {
        Assert.Empty(Failures(
            new ModelDeployment { Name = "a", Path = "/m/a" },
            new ModelDeployment { Name = "b", Path = "/m/b", Stages = 2, Replicas = 3, LayerSplit = [4, 2] }));
        Assert.Empty(Failures()); // a silo may serve sessions only; the gateway refuses an empty list itself
    }

    [Theory]
    [InlineData("", "/m", 1, 1, "Cluster:Models:0 (''): Name must be non-empty and contain no '/'")]
    [InlineData("x/y", "/m", 1, 1, "Cluster:Models:0 ('x/y'): Name must be non-empty and contain no '/'")]
    [InlineData("x", " ", 1, 1, "Cluster:Models:0 ('x'): Path (the checkpoint directory) is empty.")]
    [InlineData("x", "/m", 0, 1, "Cluster:Models:0 ('x'): Stages and Replicas must be at least 1; got 0 and 1.")]
    [InlineData("x", "/m", 1, -2, "Cluster:Models:0 ('x'): Stages and Replicas must be at least 1; got 1 and -2.")]
    public void EachBadSettingIsNamed(string name, string path, int stages, int replicas, string expected)
    {
        var failures = Failures(new ModelDeployment { Name = name, Path = path, Stages = stages, Replicas = replicas });

        Assert.True(failures.Any(f => f.StartsWith(expected, StringComparison.Ordinal)), $"expected a failure starting with \"{expected}\"; got: {string.Join(" | ", failures)}");
    }

    [Fact]
    public void AWeightDTypeMustBeOneTheEngineKnowsOrEmpty()
    {
        Assert.Empty(Failures(
            new ModelDeployment { Name = "a", Path = "/m", WeightDType = "bfloat16" },
            new ModelDeployment { Name = "b", Path = "/m", WeightDType = "Float32" },
            new ModelDeployment { Name = "c", Path = "/m" }));
        var failures = Failures(new ModelDeployment { Name = "q", Path = "/m", WeightDType = "int4" });
        Assert.True(failures.Count == 1 && failures[0].StartsWith("Cluster:Models:0 ('q'): WeightDType 'int4' is not one of", StringComparison.Ordinal) && failures[0].Contains("bfloat16"),
            $"failures: {string.Join(" | ", failures)}");
    }

    [Fact]
    public void ALayerSplitNeedsOnePositiveCountPerStage()
    {
        var failures = Failures(
            new ModelDeployment { Name = "ok", Path = "/m" },
            new ModelDeployment { Name = "short", Path = "/m", Stages = 3, LayerSplit = [2, 2] },
            new ModelDeployment { Name = "zero", Path = "/m", Stages = 2, LayerSplit = [4, 0] });

        Assert.Equal(
            [
                "Cluster:Models:1 ('short'): LayerSplit [2, 2] must have one count >= 1 per stage (3).",
                "Cluster:Models:2 ('zero'): LayerSplit [4, 0] must have one count >= 1 per stage (2).",
            ],
            failures);
    }

    [Fact]
    public void DuplicateNamesAreRefused()
    {
        var failures = Failures(new ModelDeployment { Name = "m", Path = "/a" }, new ModelDeployment { Name = "m", Path = "/b" });

        Assert.Equal(["Cluster:Models: the name 'm' is used 2 times."], failures);
    }
}

/// <summary>The cluster connection settings, read once for silos and gateways alike.</summary>
public sealed class ClusterConnectionTests
{
    [Fact]
    public void DefaultsAreLocalhostClusteringOnTheStandardPorts()
    {
        var connection = ClusterConnection.From(new ConfigurationBuilder().Build());

        Assert.Equal(new ClusterConnection("cluster", "cluster", null, 11111, 30000, 11111, null), connection);
    }

    [Fact]
    public void EverySettingIsReadFromTheClusterSection()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cluster:ClusterId"] = "c1",
            ["Cluster:ServiceId"] = "s1",
            ["Cluster:Redis"] = "redis:6379",
            ["Cluster:SiloPort"] = "11112",
            ["Cluster:GatewayPort"] = "30001",
            ["Cluster:PrimarySiloPort"] = "11113",
            ["Cluster:AdvertisedIP"] = "10.0.0.7",
        }).Build();

        Assert.Equal(new ClusterConnection("c1", "s1", "redis:6379", 11112, 30001, 11113, "10.0.0.7"), ClusterConnection.From(configuration));
    }

    [Fact]
    public void AnEmptyRedisSettingMeansLocalhostClustering()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Cluster:Redis"] = "" }).Build();

        Assert.Null(ClusterConnection.From(configuration).Redis);
    }
}
