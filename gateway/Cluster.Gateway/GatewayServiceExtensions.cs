using Cluster.Gateway.Models;
using Cluster.Gateway.Scheduling;
using Cluster.Gateway.Services;
using Cluster.Gateway.Telemetry;

namespace Cluster.Gateway;

/// <summary>
/// Registers the gateway on a host whose Orleans client (an <see cref="IGrainFactory"/>) is configured separately:
/// by <c>UseOrleansClient</c> in Program.cs, or by a test cluster's client in tests.
/// </summary>
public static class GatewayServiceExtensions
{
    public static IServiceCollection AddClusterGateway(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddGrpc(grpc => grpc.EnableDetailedErrors = false);
        services.AddGrpcReflection();
        services.AddOptions<GatewayOptions>()
            .Bind(configuration.GetSection("Gateway"))
            .Configure(options => configuration.GetSection("Cluster:Models").Bind(options.Models));
        services.AddOptions<SchedulerOptions>().Bind(configuration.GetSection("Gateway:Scheduler"));
        services.AddSingleton<SiloLossWatch>();
        services.AddHostedService(sp => sp.GetRequiredService<SiloLossWatch>());
        services.AddSingleton<ModelCatalog>();
        services.AddHostedService(sp => sp.GetRequiredService<ModelCatalog>());
        services.AddGrpcHealthChecks().AddCheck<ModelsReadyHealthCheck>("models");
        services.AddClusterGatewayTelemetry(configuration);
        return services;
    }

    public static WebApplication MapClusterGateway(this WebApplication app)
    {
        app.MapGrpcService<GenerationService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapClusterGatewayTelemetry();
        return app;
    }
}
