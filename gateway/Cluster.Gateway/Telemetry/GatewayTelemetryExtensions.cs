using Cluster.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Cluster.Gateway.Telemetry;

/// <summary>
/// Metrics on a Prometheus endpoint (always), and the cluster's OpenTelemetry defaults (<see cref="ClusterTelemetryDefaults"/>:
/// OTLP export only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set) with ASP.NET Core's spans of the gRPC calls. The gRPC endpoint speaks HTTP/2 only, so
/// <c>/metrics</c>, <c>/healthz</c> and <c>/ready</c> are for the HTTP/1.1 Kestrel endpoint "Metrics" (appsettings.json, port 9090).
/// </summary>
public static class GatewayTelemetryExtensions
{
    public static IServiceCollection AddClusterGatewayTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var telemetry = services.AddClusterOpenTelemetry(configuration, "cluster-gateway", GatewayTelemetry.SourceName, GatewayTelemetry.MeterName)
            .WithMetrics(metrics => metrics.AddMeter(GatewayTelemetry.MeterName, ClusterTelemetryDefaults.OrleansMeter).AddPrometheusExporter());
        if (ClusterTelemetryDefaults.ExportsOtlp(configuration))
        {
            telemetry.WithTracing(tracing => tracing.AddAspNetCoreInstrumentation(o => o.Filter = context => !IsSidePortPath(context.Request.Path)));
        }
        return services;
    }

    /// <summary>/metrics (Prometheus). The side port's probes, /healthz and /ready, are the services' (<c>MapProbes</c>).</summary>
    public static WebApplication MapClusterGatewayTelemetry(this WebApplication app)
    {
        app.MapPrometheusScrapingEndpoint();
        return app;
    }

    // The side port's paths are not traced: scrapes and probes every few seconds would drown the requests' traces.
    private static bool IsSidePortPath(PathString path) => path.StartsWithSegments("/metrics") || path.StartsWithSegments("/healthz") || path.StartsWithSegments("/ready");
}
