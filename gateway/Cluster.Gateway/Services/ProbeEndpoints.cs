using Cluster.Gateway.Models;

namespace Cluster.Gateway.Services;

/// <summary>The HTTP probes beside /metrics on the side port (HTTP/1.1 Kestrel endpoint "Metrics", appsettings.json).</summary>
internal static class ProbeEndpoints
{
    /// <summary>
    /// /healthz: the process answers. /ready: every model's stages are loaded; 503 again once the gateway starts
    /// stopping, as gRPC health turns NOT_SERVING (<see cref="DrainingHealthCheck"/>).
    /// </summary>
    public static WebApplication MapProbes(this WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/ready", (ModelCatalog catalog, IHostApplicationLifetime lifetime) =>
            lifetime.ApplicationStopping.IsCancellationRequested ? Results.Text("stopping", statusCode: 503)
            : catalog.IsReady ? Results.Text("ready")
            : Results.Text("models loading", statusCode: 503));
        return app;
    }
}
