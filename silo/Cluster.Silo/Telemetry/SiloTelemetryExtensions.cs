using Cluster.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Cluster.Silo.Telemetry;

public static class SiloTelemetryExtensions
{
    /// <summary>
    /// The silo process's telemetry: the side port of <see cref="SiloTelemetryEndpoint"/> on <c>Telemetry:MetricsUrl</c>
    /// (default http://0.0.0.0:9090; a bare port number means all interfaces; "" or "0" turns it off), and traces
    /// exported by OTLP only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set. Not part of UseClusterStages: test
    /// clusters host several silos in one process and bring their own listeners.
    /// </summary>
    public static IServiceCollection AddClusterSiloTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        if (MetricsUrl(configuration["Telemetry:MetricsUrl"] ?? "http://0.0.0.0:9090") is { } url)
        {
            services.AddHostedService(sp => new SiloTelemetryEndpoint(url, sp.GetRequiredService<IHostApplicationLifetime>()));
        }
        services.AddClusterOpenTelemetry(configuration, "cluster-silo", SiloTelemetry.SourceName, SiloTelemetry.MeterName);
        return services;
    }

    /// <summary>null: off. A bare port ("9101") listens on every interface.</summary>
    internal static string? MetricsUrl(string setting) => setting.Trim() switch
    {
        "" or "0" => null,
        var port when int.TryParse(port, out _) => $"http://0.0.0.0:{port}",
        var url => url,
    };
}
