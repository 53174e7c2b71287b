using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Cluster.Gateway.Admission;
using Cluster.Gateway.Telemetry;
using Microsoft.Extensions.Logging;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// A running sequence a stage refused for lack of KV room (stages shared by several gateways, or filled by parked
/// sessions): parked with its cache evictable, its reservation returned, queued again after a back-off.
/// </summary>
internal sealed partial class ReplicaScheduler
{
    /// <summary>
    /// A stage had no KV-cache room for an admitted sequence (another gateway's sequences, or sessions this gateway
    /// does not count, fill it). Rather than failing a request that fits, it leaves the running set, its cache is
    /// parked on the stages (idle: evictable, so the room it holds is not lost to everyone), its reservation goes back,
    /// and after a back-off it queues again at the front, keeping its tokens; a stage that evicted its cache meanwhile
    /// answers MissingSessions and it replays from position 0. Refused only after <see cref="SchedulerOptions.StageRoomRetries"/>.
    /// </summary>
    private void WaitForStageRoom(RunningSequence sequence, StageKey? refusedBy)
    {
        sequence.StageRoomRefusals++;
        if (sequence.StageRoomRefusals > _options.StageRoomRetries)
        {
            GatewayTelemetry.RequestsRefused.Add(1, GatewayTelemetry.RefusalTags(sequence.Request.Model, "stage_room"));
            Fail(sequence, Overloaded.Exception(
                $"Stage {refusedBy} had no KV-cache room for {sequence.ReserveTokens} positions even after evicting idle sessions, {sequence.StageRoomRefusals} times; retry later.",
                _options.RetryAfter));
            return;
        }
        if (sequence.CancelRequested)
        {
            Finish(sequence, FinishReason.Cancelled);
            return;
        }
        _running.Remove(sequence);
        GatewayTelemetry.StageRoomWaits.Add(1, GatewayTelemetry.ModelTag(sequence.Request.Model));
        GatewayTelemetry.RequestsRunning.Add(-1, GatewayTelemetry.ModelTag(sequence.Request.Model));
        sequence.Parked = true; // parked: neither stepped nor retired until it is back in the queue
        _ = ParkAsync(sequence, StageRoomBackOff(sequence.StageRoomRefusals));
    }

    private TimeSpan StageRoomBackOff(int refusals)
    {
        var delay = _options.StageRoomRetryDelay * Math.Pow(2, Math.Min(refusals - 1, 16));
        return delay < _options.RetryAfter ? delay : _options.RetryAfter;
    }

    private async Task ParkAsync(RunningSequence sequence, TimeSpan backOff)
    {
        try
        {
            await _pipeline.ReleaseAsync([sequence.StageSessionId], CacheRelease.Park);
        }
        catch (Exception ex)
        {
            // Harmless: the session stays active on a stage until the next step or the final release reaches it.
            _logger.LogWarning(ex, "Parking {Session} on the stages failed.", sequence.StageSessionId);
        }
        // Only now: a sequence admitted into these positions must not reach a stage ahead of the park.
        _events.Writer.TryWrite(new SchedulerEvent.Released(sequence.ReserveTokens));
        await Task.Delay(backOff, _time);
        _events.Writer.TryWrite(new SchedulerEvent.BackToWaiting(sequence));
    }

    private void ReturnToWaiting(RunningSequence sequence)
    {
        sequence.Parked = false;
        if (sequence.CancelRequested)
        {
            Finish(sequence, FinishReason.Cancelled); // holds no reservation now, and is in neither list
            return;
        }
        _waiting.AddFirst(sequence); // it was admitted before everyone waiting: first come, first served
        GatewayTelemetry.RequestsWaiting.Add(1, GatewayTelemetry.ModelTag(sequence.Request.Model));
    }
}
