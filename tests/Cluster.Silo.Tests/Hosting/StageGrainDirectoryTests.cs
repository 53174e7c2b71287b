using Cluster.Silo.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Cluster.Silo.Tests.Hosting;

/// <summary>Cluster:DistributedGrainDirectory turns on Orleans' distributed directory with a short lease after a crash, which Cluster:GrainDirectory overrides.</summary>
public sealed class StageGrainDirectoryTests
{
    [Theory]
    [InlineData(null, 2)]
    [InlineData("00:00:07", 7)]
    public void DistributedDirectoryHoldsACrashedSilosGrainsBackBriefly(string? lease, int expectedSeconds)
    {
        var settings = new Dictionary<string, string?> { ["Cluster:DistributedGrainDirectory"] = "true" };
        if (lease is not null)
        {
            settings["Cluster:GrainDirectory:RangeLeaseDuration"] = lease;
        }

        var options = DirectoryOptions(settings);

        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), options.RangeLeaseDuration);
    }

    [Fact]
    public void DefaultDirectoryKeepsOrleansLease()
    {
        Assert.Equal(new GrainDirectoryOptions().RangeLeaseDuration, DirectoryOptions([]).RangeLeaseDuration);
    }

    private static GrainDirectoryOptions DirectoryOptions(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.UseOrleans(silo => silo.UseClusterMembership(builder.Configuration));
        using var host = builder.Build();
        return host.Services.GetRequiredService<IOptions<GrainDirectoryOptions>>().Value;
    }
}
