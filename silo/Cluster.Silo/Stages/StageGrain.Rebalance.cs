using Cluster.Silo.Placement;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Runtime.Placement;
using Orleans.Serialization.TypeSystem;

namespace Cluster.Silo.Stages;

/// <summary>
/// Stages follow the cluster as it grows: placement only runs when a stage activates, so without this a silo that
/// joins later would host nothing until a restart. Every <c>Cluster:Stages:RebalanceCheckPeriod</c> the stage looks at
/// where all stages are (the management grain's statistics) and, while a silo hosts none and this stage's silo hosts
/// several, moves to the empty silo <see cref="StageSpread"/> assigns it: only when two checks in a row agree (so a
/// membership change in progress does not make it hop) and no sequence is running on it. Its caches stay behind: a
/// session that parked one is replayed from its history on the next turn, as after an eviction. Reloading the layers
/// on the new silo is the cost, paid once per scale-out and never in the middle of a sequence.
/// </summary>
public sealed partial class StageGrain
{
    private static readonly string StageGrainType = RuntimeTypeNameFormatter.Format(typeof(StageGrain));
    private SiloAddress? _pendingMove;
    private HashSet<SiloAddress>? _settledAmong; // the active silos when a check last found nothing to move

    private void StartRebalancing(TimeSpan period)
    {
        if (period > TimeSpan.Zero)
        {
            this.RegisterGrainTimer(_ => CheckSpread(), new GrainTimerCreationOptions(period, period) { KeepAlive = false });
        }
    }

    private async Task CheckSpread()
    {
        var membership = ServiceProvider.GetRequiredService<IClusterMembershipService>();
        var active = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress).ToList();
        if (active.Count < 2)
        {
            _pendingMove = null;
            return;
        }
        // Stages spread out only when silos come or go: until the membership changes, a settled stage does not ask
        // every silo for its statistics again.
        if (_pendingMove is null && _settledAmong is not null && _settledAmong.SetEquals(active))
        {
            return;
        }
        var stagesBySilo = active.ToDictionary(s => s, _ => new List<string>());
        var myType = this.GetGrainId().Type;
        foreach (var stat in await GrainFactory.GetGrain<IManagementGrain>(0).GetDetailedGrainStatistics([StageGrainType]))
        {
            if (stat.GrainId.Type.Equals(myType) && stagesBySilo.TryGetValue(stat.SiloAddress, out var keys))
            {
                keys.Add(stat.GrainId.Key.ToString()!);
            }
        }
        var target = StageSpread.TargetFor(this.GetPrimaryKeyString(), stagesBySilo);
        if (target is null || target.Equals(silo.SiloAddress))
        {
            _pendingMove = null;
            _settledAmong = [.. active];
            return;
        }
        _settledAmong = null;
        if (!target.Equals(_pendingMove))
        {
            _pendingMove = target; // first sighting: move only if the next check agrees
            return;
        }
        if (await gate.RunAsync(() => _sessions.ActiveCount) > 0)
        {
            return; // never under a running sequence; a later check finds it idle
        }
        LogMoving(logger, _key.ToString(), silo.SiloAddress.ToString(), target.ToString(), stagesBySilo[silo.SiloAddress].Count);
        // The hint travels with the migration (captured now): placement puts the new activation on the target.
        RequestContext.Set(IPlacementDirector.PlacementHintKey, target);
        try
        {
            this.MigrateOnIdle();
        }
        finally
        {
            RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stage {Stage} moves from {From} (hosting {Stages} stages) to {To}, which hosts none")]
    private static partial void LogMoving(ILogger logger, string stage, string from, string to, int stages);
}
