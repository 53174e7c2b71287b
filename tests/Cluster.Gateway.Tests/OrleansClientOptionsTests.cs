using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.Tests;

/// <summary>The gateway's Orleans client re-reads the silo gateways every 5 s by default (Orleans: a minute); Cluster:Membership overrides it.</summary>
public sealed class OrleansClientOptionsTests
{
    [Theory]
    [InlineData(null, 5)]
    [InlineData("00:00:02", 2)]
    public void GatewayListRefreshPeriodIsShortAndConfigurable(string? setting, int expectedSeconds)
    {
        var builder = Host.CreateApplicationBuilder();
        if (setting is not null)
        {
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Cluster:Membership:GatewayListRefreshPeriod"] = setting });
        }
        builder.UseOrleansClient(client => client.UseClusterMembership(builder.Configuration));
        using var host = builder.Build();

        var options = host.Services.GetRequiredService<IOptions<Orleans.Configuration.GatewayOptions>>().Value;

        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), options.GatewayListRefreshPeriod);
    }
}
