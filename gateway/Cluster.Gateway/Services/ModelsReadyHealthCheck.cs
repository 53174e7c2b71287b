using Cluster.Gateway.Models;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Cluster.Gateway.Services;

/// <summary>gRPC health: SERVING once every model's stages are loaded and described.</summary>
internal sealed class ModelsReadyHealthCheck(ModelCatalog catalog) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(catalog.IsReady
            ? HealthCheckResult.Healthy($"Serving {string.Join(", ", catalog.Names)}.")
            : HealthCheckResult.Unhealthy("Models are still loading."));
}
