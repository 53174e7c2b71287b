using Cluster.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Cluster.Silo.Telemetry;

/// <summary>
/// The silo's HTTP/1.1 side port (the silo itself is a generic host, not a web app): a small Kestrel app serving
/// <c>/metrics</c> (Prometheus: the Cluster.Silo and Orleans meters), <c>/healthz</c> (the process answers) and
/// <c>/ready</c> (the silo has started: the host's started event fires after the Orleans silo joined; 503 again from
/// the moment it starts stopping). It outlives the silo's shutdown: stopped only once every other service has (the
/// lifecycle's StoppedAsync), so while Orleans deactivates the stages and leaves the cluster, /ready answers 503 (a
/// rolling update sees the silo not ready first), /healthz still answers (no liveness restart mid-drain) and the
/// metrics still scrape.
/// </summary>
internal sealed class SiloTelemetryEndpoint(string url, IHostApplicationLifetime lifetime) : IHostedLifecycleService, IAsyncDisposable
{
    private WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseUrls(url);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureEndpointDefaults(listen => listen.Protocols = HttpProtocols.Http1));
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(SiloTelemetry.MeterName, ClusterTelemetryDefaults.OrleansMeter)
            .AddPrometheusExporter());
        _app = builder.Build();
        _app.MapPrometheusScrapingEndpoint();
        _app.MapGet("/healthz", () => Results.Text("ok"));
        _app.MapGet("/ready", () => lifetime.ApplicationStarted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested
            ? Results.Text("ready")
            : Results.Text(lifetime.ApplicationStopping.IsCancellationRequested ? "stopping" : "starting", statusCode: 503));
        await _app.StartAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask; // see StoppedAsync

    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }
}
