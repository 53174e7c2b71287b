using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Cluster.Silo.Hosting;

/// <summary>
/// What a silo does on SIGTERM (a rolling update, a scale-down), in order: /ready turns 503; Orleans marks the silo
/// ShuttingDown, so placement stops choosing it and the gateways see it leave (and retry outstanding steps); each stage
/// grain deactivates once its running Forward has returned (a grain's turn is never cut short, and the forward pass on
/// the device thread is inside that turn); messages still queued for it are rerouted to a new activation on a
/// surviving silo, which answers MissingSessions so the gateway replays the histories; the silo leaves the membership
/// table; last, the device thread drains and the side port closes. Streams see a pause, not an error.
/// </summary>
public static class GracefulShutdown
{
    /// <summary>
    /// The whole stop may take this long (<c>Cluster:ShutdownTimeout</c>) before the host gives up and exits anyway.
    /// Measured on loopback with models/default: a stage silo is gone within about 0.6 s of SIGTERM; the margin covers
    /// a long forward pass finishing and Orleans' own shutdown steps (client notification, rerouting queued messages).
    /// Kubernetes' terminationGracePeriodSeconds must exceed it, or the kubelet's SIGKILL cuts the drain short.
    /// </summary>
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(30);

    public static IServiceCollection AddGracefulShutdown(this IServiceCollection services, IConfiguration configuration)
    {
        var timeout = configuration.GetValue("Cluster:ShutdownTimeout", DefaultShutdownTimeout);
        services.Configure<HostOptions>(o => o.ShutdownTimeout = timeout);
        return services;
    }
}
