using Cluster.Silo.Placement;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Runtime.Placement;

namespace Cluster.Silo.Stages;

/// <summary>
/// Stages follow the cluster as it grows or shrinks: placement only runs when a stage activates, so without this a
/// silo that joins later would host nothing until a restart. Every <c>Cluster:Stages:RebalanceCheckPeriod</c> the stage
/// asks where placement would put it now; when that is another silo in two checks running (so a membership change in
/// progress does not make it hop), and no sequence is running on it, it migrates there. Its caches stay behind: a
/// session that parked one is replayed from its history on the next turn, as after an eviction. Reloading the layers on
/// the new silo is the cost, paid once per membership change and never in the middle of a sequence.
/// </summary>
public sealed partial class StageGrain
{
    private SiloAddress? _pendingHome;

    private void StartRebalancing(TimeSpan period)
    {
        if (period > TimeSpan.Zero)
        {
            this.RegisterGrainTimer(_ => CheckHome(), new GrainTimerCreationOptions(period, period) { KeepAlive = false });
        }
    }

    private Task CheckHome()
    {
        var membership = ServiceProvider.GetRequiredService<IClusterMembershipService>();
        var active = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToList();
        if (active.Count == 0)
        {
            return Task.CompletedTask;
        }
        var home = StageHome.Choose(active, _key, _stagesPerReplica);
        if (home.Equals(silo.SiloAddress))
        {
            _pendingHome = null;
            return Task.CompletedTask;
        }
        if (!home.Equals(_pendingHome))
        {
            _pendingHome = home; // first sighting: move only if the next check agrees
            return Task.CompletedTask;
        }
        if (_sessions.ActiveCount > 0)
        {
            return Task.CompletedTask; // never under a running sequence; a later check finds it idle
        }
        LogMoving(logger, _key.ToString(), silo.SiloAddress.ToString(), home.ToString(), active.Count);
        // The hint travels with the migration (captured now), so placement need not recompute the home.
        RequestContext.Set(IPlacementDirector.PlacementHintKey, home);
        try
        {
            this.MigrateOnIdle();
        }
        finally
        {
            RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        }
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stage {Stage} moves from {From} to {To}: placement over {Silos} silos chooses it now")]
    private static partial void LogMoving(ILogger logger, string stage, string from, string to, int silos);
}
