using Cluster.Silo.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Cluster.Silo.Tests.Hosting;

/// <summary>A silo configured like the silo executable refuses to start on a bad <c>Cluster:Models</c> entry, naming its key.</summary>
public sealed class ClusterModelsAtStartTests
{
    [Fact]
    public async Task AnInvalidModelEntryStopsTheSiloAtStartNamingTheKey()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cluster:Models:0:Name"] = "good",
            ["Cluster:Models:0:Path"] = "/models/good",
            ["Cluster:Models:1:Name"] = "bad",
            ["Cluster:Models:1:Path"] = "/models/bad",
            ["Cluster:Models:1:Stages"] = "0",
        });
        builder.UseOrleans(silo => silo.UseClusterMembership(builder.Configuration).UseClusterStages(builder.Configuration));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Contains("Cluster:Models:1 ('bad'): Stages and Replicas must be at least 1; got 0 and 1.", error.Message);
        Assert.DoesNotContain("Cluster:Models:0", error.Message);
    }
}
