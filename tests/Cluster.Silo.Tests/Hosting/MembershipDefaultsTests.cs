using Cluster.Silo.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Cluster.Silo.Tests.Hosting;

/// <summary>Failure detection: a silo declares a dead peer in seconds by default, and Cluster:Membership overrides any setting.</summary>
public sealed class MembershipDefaultsTests
{
    [Fact]
    public void SiloDetectsFailuresInSecondsByDefault()
    {
        var options = MembershipOptions([]);

        Assert.Equal(TimeSpan.FromSeconds(1), options.ProbeTimeout);
        Assert.Equal(3, options.NumMissedProbesLimit);
        Assert.Equal(2, options.NumVotesForDeathDeclaration);
        Assert.Equal(TimeSpan.FromSeconds(5), options.TableRefreshTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), options.DeathVoteExpirationTimeout);
        Assert.Equal(TimeSpan.FromSeconds(10), options.IAmAliveTablePublishTimeout);
    }

    [Fact]
    public void ClusterMembershipSectionOverridesTheDefaults()
    {
        var options = MembershipOptions(new()
        {
            ["Cluster:Membership:ProbeTimeout"] = "00:00:05",
            ["Cluster:Membership:NumMissedProbesLimit"] = "4",
        });

        Assert.Equal(TimeSpan.FromSeconds(5), options.ProbeTimeout);
        Assert.Equal(4, options.NumMissedProbesLimit);
        Assert.Equal(TimeSpan.FromSeconds(5), options.TableRefreshTimeout); // not overridden: still the default
    }

    // The options a silo configured like the silo executable would run with (built, not started).
    private static ClusterMembershipOptions MembershipOptions(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.UseOrleans(silo => silo.UseClusterMembership(builder.Configuration));
        using var host = builder.Build();
        return host.Services.GetRequiredService<IOptions<ClusterMembershipOptions>>().Value;
    }
}
