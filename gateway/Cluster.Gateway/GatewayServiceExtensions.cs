using Cluster.Gateway.Auth;
using Cluster.Gateway.Models;
using Cluster.Gateway.OpenAi;
using Cluster.Gateway.Scheduling;
using Cluster.Gateway.Services;
using Cluster.Gateway.Telemetry;
using Cluster.Gateway.WebUi;
using Cluster.Hosting;

namespace Cluster.Gateway;

/// <summary>
/// Registers the gateway on a host whose Orleans client (an <see cref="IGrainFactory"/>) is configured separately:
/// by <c>UseOrleansClient</c> in Program.cs, or by a test cluster's client in tests.
/// </summary>
public static class GatewayServiceExtensions
{
    public static IServiceCollection AddClusterGateway(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddGrpc(grpc =>
        {
            grpc.EnableDetailedErrors = false;
            // Set deliberately, not left to the library's default: a larger message is RESOURCE_EXHAUSTED before it is parsed.
            grpc.MaxReceiveMessageSize = configuration.GetValue("Gateway:MaxRequestBytes", GatewayOptions.DefaultMaxRequestBytes);
        }).AddHttpJsonRoutes();
        services.AddGrpcReflection();
        services.AddClusterModels(configuration);
        services.AddOptions<GatewayOptions>().Bind(configuration.GetSection("Gateway"));
        services.AddOptions<SchedulerOptions>().Bind(configuration.GetSection("Gateway:Scheduler"));
        services.AddSingleton<SiloLossWatch>();
        services.AddHostedService(sp => sp.GetRequiredService<SiloLossWatch>());
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton<GenerationRunner>();
        services.AddHostedService(sp => sp.GetRequiredService<ModelCatalog>());
        // Health for the whole server ("", the library's default mapping) and for the Generation service by its name
        // (what a client of that service asks): both SERVING once every model's stages are loaded, NOT_SERVING again
        // from the moment the gateway starts stopping. Any other name is NOT_FOUND.
        services.AddGrpcHealthChecks(health => health.Services.Map(Cluster.Contracts.Api.Generation.Descriptor.FullName, _ => true))
            .AddCheck<ModelsReadyHealthCheck>("models")
            .AddCheck<DrainingHealthCheck>("draining");
        services.AddClusterGatewayTelemetry(configuration);
        services.AddApiKeyAuth(configuration);
        return services;
    }

    public static WebApplication MapClusterGateway(this WebApplication app)
    {
        bool keysRequired = app.UseApiKeyAuth();
        // Also maps the service's HTTP/JSON routes (/api/v1/...): the same endpoints' policy covers both doors.
        var generation = app.MapGrpcService<GenerationService>()
            .WithHttpJsonPolicies(app.Configuration.GetValue("Gateway:MaxRequestBytes", GatewayOptions.DefaultMaxRequestBytes));
        // Health stays open for probes. Reflection is a development aid (grpcurl sends -H 'authorization: Bearer ...'):
        // with keys configured it needs one too, so an anonymous client cannot even enumerate the API.
        var reflection = app.MapGrpcReflectionService();
        if (keysRequired)
        {
            generation.RequireAuthorization();
            reflection.RequireAuthorization();
        }
        app.MapGrpcHealthChecksService();
        app.MapClusterGatewayTelemetry();
        app.MapProbes();
        app.MapOpenAi(keysRequired);
        app.MapInspectPage();
        return app;
    }
}
