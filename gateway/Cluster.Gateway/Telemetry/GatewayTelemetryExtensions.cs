using Cluster.Gateway.Models;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Cluster.Gateway.Telemetry;

/// <summary>
/// Metrics on a Prometheus endpoint (always) and traces exported by OTLP (only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
/// is set: without an exporter, spans would be built for nobody). The gRPC endpoint speaks HTTP/2 only, so
/// <c>/metrics</c>, <c>/healthz</c> and <c>/ready</c> are for the HTTP/1.1 Kestrel endpoint "Metrics" (appsettings.json, port 9090).
/// </summary>
public static class GatewayTelemetryExtensions
{
    /// <summary>The Orleans client's sources and meter (see DESIGN.md): grain calls as spans, messaging metrics.</summary>
    public static readonly string[] OrleansSources = ["Microsoft.Orleans.Application", "Microsoft.Orleans.Runtime"];
    public const string OrleansMeter = "Microsoft.Orleans";

    public static IServiceCollection AddClusterGatewayTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var otlp = !string.IsNullOrEmpty(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(configuration["OTEL_SERVICE_NAME"] ?? "cluster-gateway"))
            .WithMetrics(metrics => metrics.AddMeter(GatewayTelemetry.MeterName, OrleansMeter).AddPrometheusExporter());
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing
                .AddSource(GatewayTelemetry.SourceName)
                .AddSource(OrleansSources)
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsSidePortPath(context.Request.Path)));
            telemetry.UseOtlpExporter(); // honours OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL, _HEADERS, OTEL_SERVICE_NAME
        }
        return services;
    }

    /// <summary>
    /// /metrics (Prometheus), /healthz (the process answers), /ready (every model's stages loaded; 503 again once the
    /// gateway starts stopping, as gRPC health turns NOT_SERVING).
    /// </summary>
    public static WebApplication MapClusterGatewayTelemetry(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint();
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/ready", (ModelCatalog catalog, IHostApplicationLifetime lifetime) =>
            lifetime.ApplicationStopping.IsCancellationRequested ? Results.Text("stopping", statusCode: 503)
            : catalog.IsReady ? Results.Text("ready")
            : Results.Text("models loading", statusCode: 503));
        return app;
    }

    private static bool IsSidePortPath(PathString path) => path.StartsWithSegments("/metrics") || path.StartsWithSegments("/healthz") || path.StartsWithSegments("/ready");
}
