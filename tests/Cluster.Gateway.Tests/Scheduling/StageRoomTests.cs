using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Cluster.Gateway.Admission;
using Cluster.Gateway.Scheduling;
using Grpc.Core;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>
/// A stage that refuses an admitted sequence for lack of KV-cache room (its budget filled by what this gateway does not
/// count) puts it back to waiting: it completes with its own tokens once there is room, replays if its cache went
/// meanwhile, and is refused with a retry hint only after the configured number of tries.
/// </summary>
public sealed class StageRoomTests
{
    private static readonly SchedulerOptions FastRetries = new() { StageRoomRetries = 3, StageRoomRetryDelay = TimeSpan.FromMilliseconds(1), RetryAfter = TimeSpan.FromSeconds(2) };

    /// <summary>Refuses <paramref name="session"/>'s steps at that stage <paramref name="times"/> times, counting into <paramref name="refusals"/>.</summary>
    private static Func<StageBatch, IReadOnlyList<string>> Refuse(string session, int times, StrongBox refusals, Action? onRefusal = null) => batch =>
    {
        if (batch.Entries.All(e => e.SessionId != session) || Volatile.Read(ref refusals.Value) >= times)
        {
            return [];
        }
        Interlocked.Increment(ref refusals.Value);
        onRefusal?.Invoke();
        return [session];
    };

    [Fact]
    public async Task ASequenceRefusedForRoomTwiceWaitsAndThenCompletesWithItsOwnTokensNextToAnUndisturbedOne()
    {
        await using var harness = new SchedulerHarness(stageCount: 2, FastRetries);
        var refusals = new StrongBox();
        var other = harness.Submit(promptLength: 6, maxNewTokens: 12);
        var refused = harness.Submit(promptLength: 5, maxNewTokens: 10);
        harness.Stages[1].RefuseRoom = Refuse(refused.StageSessionId, times: 2, refusals);

        var refusedResponses = await SchedulerHarness.ReadAllAsync(refused);
        var otherResponses = await SchedulerHarness.ReadAllAsync(other);

        Assert.True(refusals.Value == 2, $"The last stage refused the sequence {refusals.Value} times; the test set 2.");
        Assert.Equal(FakeStage.TokensAfter(5, 10), SchedulerHarness.TokenIds(refusedResponses));
        Assert.Equal(FinishReason.Length, refusedResponses[^1].FinishReason);
        Assert.Equal(FakeStage.TokensAfter(6, 12), SchedulerHarness.TokenIds(otherResponses));
        Assert.True(harness.Stages.All(s => s.Releases.Any(r => r.Ids.Contains(refused.StageSessionId) && r.Release == CacheRelease.Park)),
            "Each refusal should park the sequence's cache on every stage (release with keep) so others can evict it.");
        await harness.WaitForAsync(() => harness.Capacity.Reserved == 0, $"every reservation to come back (still reserved: {harness.Capacity.Reserved})");
    }

    [Fact]
    public async Task ASequenceWhoseCacheAnEarlierStageDroppedWhileItWaitedForRoomReplaysFromPositionZero()
    {
        await using var harness = new SchedulerHarness(stageCount: 2, FastRetries);
        var refusals = new StrongBox();
        var sequence = harness.Submit(promptLength: 5, maxNewTokens: 10);
        // After its first token: stage 1 refuses its next step, and stage 0 (which computed that step) evicts it meanwhile.
        await sequence.Output.Reader.WaitToReadAsync();
        harness.Stages[1].RefuseRoom = Refuse(sequence.StageSessionId, times: 1, refusals, () => harness.Stages[0].Drop(sequence.StageSessionId));

        var tokens = SchedulerHarness.TokenIds(await SchedulerHarness.ReadAllAsync(sequence));

        Assert.True(refusals.Value == 1, $"The last stage refused the sequence {refusals.Value} times; the test set 1.");
        Assert.Equal(FakeStage.TokensAfter(5, 10), tokens);
        Assert.Contains(harness.Stages[0].Batches, b => b.Entries.Any(e => e.SessionId == sequence.StageSessionId && e.StartPosition == 0 && e.TokenIds.Length > 5));
    }

    [Fact]
    public async Task ASequenceStillRefusedAfterItsRetriesGetsResourceExhaustedWithARetryHintAndIsFreed()
    {
        await using var harness = new SchedulerHarness(stageCount: 2, FastRetries);
        var refusals = new StrongBox();
        var sequence = harness.Submit(promptLength: 5, maxNewTokens: 10);
        harness.Stages[0].RefuseRoom = Refuse(sequence.StageSessionId, times: int.MaxValue, refusals);

        var error = await Assert.ThrowsAsync<RpcException>(() => SchedulerHarness.ReadAllAsync(sequence));

        Assert.True(error.StatusCode == StatusCode.ResourceExhausted && Overloaded.RetryAfter(error) == FastRetries.RetryAfter,
            $"Expected RESOURCE_EXHAUSTED with a retry hint of {FastRetries.RetryAfter}; got {error.StatusCode} ({error.Status.Detail}) with hint {Overloaded.RetryAfter(error)}.");
        Assert.True(refusals.Value == FastRetries.StageRoomRetries + 1,
            $"Expected the first try and {FastRetries.StageRoomRetries} retries before giving up; the stage refused {refusals.Value} times.");
        await harness.WaitForAsync(() => harness.Stages.All(s => s.Releases.Any(r => r.Ids.Contains(sequence.StageSessionId) && r.Release == CacheRelease.Free)),
            "every stage to be told to free the refused sequence");
        await harness.WaitForAsync(() => harness.Capacity.Reserved == 0, $"the refused sequence's reservation to come back (still reserved: {harness.Capacity.Reserved})");
    }

    [Fact]
    public async Task ASequenceCancelledWhileItWaitsForRoomFinishesCancelledAndIsFreedOnEveryStage()
    {
        // Retries enough to outlast the test: only the cancel can end it.
        var options = new SchedulerOptions { StageRoomRetries = 10_000, StageRoomRetryDelay = TimeSpan.FromMilliseconds(20), RetryAfter = TimeSpan.FromMilliseconds(100) };
        await using var harness = new SchedulerHarness(stageCount: 2, options);
        var refusals = new StrongBox();
        var sequence = harness.Submit(promptLength: 5, maxNewTokens: 10);
        harness.Stages[1].RefuseRoom = Refuse(sequence.StageSessionId, times: int.MaxValue, refusals);
        await harness.WaitForAsync(() => Volatile.Read(ref refusals.Value) >= 2, "the last stage to refuse the sequence twice");

        harness.Scheduler.Cancel(sequence);
        var responses = await SchedulerHarness.ReadAllAsync(sequence);

        Assert.True(responses.Count == 1 && responses[0].FinishReason == FinishReason.Cancelled,
            $"Expected only a final CANCELLED message; got {responses.Count} messages ending {responses[^1].FinishReason}.");
        await harness.WaitForAsync(() => harness.Stages.All(s => s.Releases.Any(r => r.Ids.Contains(sequence.StageSessionId) && r.Release == CacheRelease.Free)),
            "every stage to be told to free the cancelled sequence");
        await harness.WaitForAsync(() => harness.Capacity.Reserved == 0, $"the cancelled sequence's reservation to come back (still reserved: {harness.Capacity.Reserved})");
    }

    [Fact]
    public async Task WithNoRetriesASequenceRefusedForRoomFailsAtOnce()
    {
        await using var harness = new SchedulerHarness(stageCount: 1, new SchedulerOptions { StageRoomRetries = 0 });
        var refusals = new StrongBox();
        var sequence = harness.Submit(promptLength: 5, maxNewTokens: 10);
        harness.Stages[0].RefuseRoom = Refuse(sequence.StageSessionId, times: int.MaxValue, refusals);

        var error = await Assert.ThrowsAsync<RpcException>(() => SchedulerHarness.ReadAllAsync(sequence));

        Assert.True(error.StatusCode == StatusCode.ResourceExhausted && refusals.Value == 1,
            $"Expected RESOURCE_EXHAUSTED after one refusal; got {error.StatusCode} after {refusals.Value}.");
    }

    /// <summary>A counter the stage's refusal callback and the test share.</summary>
    private sealed class StrongBox
    {
        public int Value;
    }
}
