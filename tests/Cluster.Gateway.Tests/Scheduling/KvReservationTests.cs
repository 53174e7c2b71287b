using Cluster.Contracts.Api;
using Cluster.Gateway.Scheduling;
using Grpc.Core;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>
/// Inspect and Embed hold room in the replica's KV budget while they run (<see cref="ReplicaScheduler.ReserveAsync"/>):
/// a held reservation keeps a sequence that does not fit beside it waiting, a waiting reservation goes before waiting
/// sequences, one that gives up or ends frees its room, and one that could never fit is refused.
/// </summary>
public sealed class KvReservationTests
{
    // 64 positions per stage, one cache block: room for one reservation or one short sequence at a time.
    private const long OneBlock = 64 * 256;

    [Fact]
    public async Task AHeldReservationKeepsTheRoomAndTheNextReservationGoesBeforeAWaitingSequence()
    {
        await using var harness = new SchedulerHarness(stageCount: 2, kvBudgetBytes: OneBlock);
        var first = await harness.Scheduler.ReserveAsync(10, "fake", CancellationToken.None);
        Assert.True(harness.Capacity.Reserved == 64, $"a reservation of 10 positions holds {harness.Capacity.Reserved}; one block is 64");

        var sequence = harness.Submit(promptLength: 4, maxNewTokens: 10);
        var second = harness.Scheduler.ReserveAsync(5, "fake", CancellationToken.None);
        Assert.False(second.IsCompleted, "the second reservation was granted while the first held the only block");
        await first.DisposeAsync();
        await using (await second)
        {
            // The block went from the first reservation to the second: the sequence, queued before it, has not run.
            Assert.True(!harness.Probe.Events.Any(e => e.Contains(sequence.StageSessionId)),
                $"the sequence reached a stage while a reservation held the room: [{string.Join("; ", harness.Probe.Events)}]");
            Assert.Null(sequence.QueueTime);
        }

        var tokens = SchedulerHarness.TokenIds(await SchedulerHarness.ReadAllAsync(sequence));
        Assert.Equal(Enumerable.Range(0, 10).Select(i => FakeStage.TokenAt(4 + i)), tokens);
        await harness.WaitForAsync(() => harness.Capacity.Reserved == 0 && harness.Scheduler.Load == 0,
            $"the room and the load to come back (reserved {harness.Capacity.Reserved}, load {harness.Scheduler.Load})");
    }

    [Fact]
    public async Task AReservationWhoseCallerGivesUpWhileWaitingFreesItsPlace()
    {
        await using var harness = new SchedulerHarness(stageCount: 1, kvBudgetBytes: OneBlock);
        var held = await harness.Scheduler.ReserveAsync(64, "fake", CancellationToken.None);
        using var giveUp = new CancellationTokenSource();
        var waiting = harness.Scheduler.ReserveAsync(1, "fake", giveUp.Token);

        giveUp.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        await held.DisposeAsync();

        await harness.WaitForAsync(() => harness.Capacity.Reserved == 0 && harness.Scheduler.Load == 0,
            $"the room and the load to come back (reserved {harness.Capacity.Reserved}, load {harness.Scheduler.Load})");
        var sequence = harness.Submit(promptLength: 4, maxNewTokens: 3);
        Assert.Equal(FinishReason.Length, (await SchedulerHarness.ReadAllAsync(sequence))[^1].FinishReason);
    }

    [Fact]
    public async Task AReservationLargerThanTheReplicaIsRefusedWithResourceExhausted()
    {
        await using var harness = new SchedulerHarness(stageCount: 2, kvBudgetBytes: OneBlock);
        var error = await Assert.ThrowsAsync<RpcException>(() => harness.Scheduler.ReserveAsync(65, "fake", CancellationToken.None));
        Assert.True(error.StatusCode == StatusCode.ResourceExhausted && error.Status.Detail.Contains("65 positions") && error.Status.Detail.Contains("at most 64"),
            $"{error.StatusCode}: {error.Status.Detail}");
        Assert.Equal(0, harness.Scheduler.Load);
    }
}
