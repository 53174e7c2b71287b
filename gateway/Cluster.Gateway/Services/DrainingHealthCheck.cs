using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Cluster.Gateway.Services;

/// <summary>
/// gRPC health: unhealthy from the moment the gateway starts stopping (SIGTERM), so the server ("") and
/// cluster.v1.Generation answer NOT_SERVING and a load balancer or a readiness probe sends new calls elsewhere
/// while Kestrel finishes the streams already open; Watch calls are completed with NOT_SERVING by the library.
/// </summary>
internal sealed class DrainingHealthCheck(IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(lifetime.ApplicationStopping.IsCancellationRequested
            ? HealthCheckResult.Unhealthy("The gateway is stopping: no new calls.")
            : HealthCheckResult.Healthy("Not stopping."));
}
