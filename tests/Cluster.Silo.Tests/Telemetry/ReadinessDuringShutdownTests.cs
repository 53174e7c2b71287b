using System.Net;
using System.Net.Sockets;
using Cluster.Silo.Telemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Cluster.Silo.Tests.Telemetry;

/// <summary>
/// A stopping silo says so: from the moment it starts stopping, /ready answers 503 while /healthz still answers, for
/// as long as the other services (Orleans deactivating the stages, leaving the cluster) take to stop.
/// </summary>
public sealed class ReadinessDuringShutdownTests
{
    [Fact]
    public async Task ReadyTurns503WhileTheSiloDrainsAndTheSidePortClosesOnlyAfterIt()
    {
        var port = FreePort();
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Telemetry:MetricsUrl"] = $"http://127.0.0.1:{port}" });
        builder.Services.AddClusterSiloTelemetry(builder.Configuration);
        var drain = new SlowToStop(); // registered after the endpoint, so it stops first: as the Orleans silo does
        builder.Services.AddHostedService(_ => drain);
        using var host = builder.Build();
        await host.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal("200 ready", await GetAsync(http, "/ready"));

        var stopping = host.StopAsync();
        await drain.Stopping.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var readyWhileDraining = await GetAsync(http, "/ready");
        var healthWhileDraining = await GetAsync(http, "/healthz");
        drain.Release.TrySetResult();
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("503 stopping", readyWhileDraining);
        Assert.Equal("200 ok", healthWhileDraining);
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("/healthz"));
    }

    private static async Task<string> GetAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        return $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class SlowToStop : IHostedService
    {
        public TaskCompletionSource Stopping { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            Stopping.TrySetResult();
            await Release.Task;
        }
    }
}
