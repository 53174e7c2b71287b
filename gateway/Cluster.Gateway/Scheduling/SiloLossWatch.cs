using Microsoft.Extensions.Options;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// Tells the pipeline drivers when a silo leaves the cluster (declared dead, or shutting down). A stage call the gateway
/// sent through one silo's gateway to a stage on a silo that then died is never answered: the forwarding silo does
/// not fail it, so the call would hang for the whole Orleans response timeout (30 s, measured). On a departure, the
/// drivers abandon every call still outstanding and the scheduler retries those steps on the stages' next activations
/// (steps are idempotent per position; calls to live silos that were abandoned just compute again). Polls the cluster's
/// active silos through the management grain every <see cref="SchedulerOptions.MembershipPollPeriod"/>.
/// </summary>
internal sealed class SiloLossWatch(IGrainFactory grains, IOptions<SchedulerOptions> options, ILogger<SiloLossWatch> logger) : BackgroundService
{
    private TaskCompletionSource _nextLoss = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the next silo leaves the cluster (each departure completes the task handed out before it).</summary>
    public Task NextLoss => Volatile.Read(ref _nextLoss).Task;

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var period = options.Value.MembershipPollPeriod;
        if (period <= TimeSpan.Zero)
        {
            return; // off: calls to a dead silo wait for the response timeout
        }
        HashSet<SiloAddress>? active = null;
        using var timer = new PeriodicTimer(period);
        while (await timer.WaitForNextTickAsync(stopping))
        {
            Dictionary<SiloAddress, SiloStatus> hosts;
            try
            {
                // Bounded: the call itself may go through the gateway of the silo that just died.
                hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(period * 3, stopping);
            }
            catch (Exception ex) when (!stopping.IsCancellationRequested)
            {
                logger.LogDebug(ex, "Reading the cluster's active silos failed; trying again in {Period}.", period);
                continue;
            }
            var now = hosts.Keys.ToHashSet();
            if (active is not null && active.Where(s => !now.Contains(s)).ToList() is { Count: > 0 } lost)
            {
                logger.LogWarning("Silos left the cluster: {Silos}; abandoning outstanding stage calls so their steps retry on the stages' next activations.",
                    string.Join(", ", lost));
                Interlocked.Exchange(ref _nextLoss, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            }
            active = now;
        }
    }
}
