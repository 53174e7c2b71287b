using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.Tests;

/// <summary>
/// The gateway checks <c>Cluster:Models</c> with the silos' validator when it starts (one check, one message for
/// both processes), before it tries to reach any silo.
/// </summary>
public sealed class ClusterModelsAtStartTests
{
    [Fact]
    public async Task AnInvalidModelEntryStopsTheGatewayAtStartNamingTheKey()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Cluster:Models:0:Name"] = "a/b",
            ["Cluster:Models:0:Path"] = "/models/x",
            ["Cluster:Models:0:Stages"] = "2",
            ["Cluster:Models:0:LayerSplit:0"] = "3",
            ["Kestrel:Endpoints:Grpc:Url"] = "http://127.0.0.1:0",
        });
        builder.UseOrleansClient(client => client.UseClusterMembership(builder.Configuration));
        builder.Services.AddClusterGateway(builder.Configuration);
        await using var app = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Contains("Cluster:Models:0 ('a/b'): Name must be non-empty and contain no '/'", error.Message);
        Assert.Contains("Cluster:Models:0 ('a/b'): LayerSplit [3] must have one count >= 1 per stage (2).", error.Message);
    }
}
