using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Cluster.Hosting;

/// <summary>
/// The OpenTelemetry set-up every cluster process shares: the service name (<c>OTEL_SERVICE_NAME</c>, else the
/// process's default), and, only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, traces and metrics of the process's
/// own source and meter plus Orleans' exported by OTLP (without an exporter, spans would be built for nobody).
/// Each process adds what is its own (the gateway's Prometheus endpoint and ASP.NET Core spans) to the builder returned.
/// </summary>
public static class ClusterTelemetryDefaults
{
    /// <summary>Orleans' activity sources (see DESIGN.md): grain calls as spans, on clients and silos.</summary>
    public static readonly string[] OrleansSources = ["Microsoft.Orleans.Application", "Microsoft.Orleans.Runtime"];

    /// <summary>Orleans' meter: messaging, activations, membership.</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    public static bool ExportsOtlp(IConfiguration configuration) => !string.IsNullOrEmpty(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);

    public static OpenTelemetryBuilder AddClusterOpenTelemetry(
        this IServiceCollection services, IConfiguration configuration, string defaultServiceName, string sourceName, string meterName)
    {
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(configuration["OTEL_SERVICE_NAME"] ?? defaultServiceName));
        if (ExportsOtlp(configuration))
        {
            telemetry
                .WithTracing(tracing => tracing.AddSource(sourceName).AddSource(OrleansSources))
                .WithMetrics(metrics => metrics.AddMeter(meterName, OrleansMeter))
                .UseOtlpExporter(); // honours OTEL_EXPORTER_OTLP_ENDPOINT, _PROTOCOL, _HEADERS
        }
        return telemetry;
    }
}
