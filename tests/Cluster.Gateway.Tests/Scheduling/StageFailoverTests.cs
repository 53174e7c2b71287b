using Cluster.Contracts.Api;
using Cluster.Gateway.Scheduling;
using Grpc.Core;
using Orleans.Runtime;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>
/// Failover mid-generation: a step that fails because a stage is unreachable (its silo died or is stopping) is retried
/// after a back-off instead of failing the streams; a stage that comes back without the caches gets them replayed;
/// a stage that never comes back fails the streams with UNAVAILABLE once the failover window is spent.
/// </summary>
public sealed class StageFailoverTests
{
    // Short back-offs keep the tests quick; the behaviour does not depend on them.
    private static SchedulerOptions Failover(TimeSpan window) => new()
    {
        FailoverTimeout = window,
        FailoverRetryDelay = TimeSpan.FromMilliseconds(1),
        FailoverMaxRetryDelay = TimeSpan.FromMilliseconds(20),
    };

    /// <param name="stages">1: one stage, whose steps overlap, so a failed step has a continuation behind it.</param>
    [Theory]
    [InlineData(3, 1)]
    [InlineData(1, 0)]
    public async Task StageThatIsUnavailableTwiceThenAnswersGivesEveryStreamTheUndisturbedTokens(int stages, int failing)
    {
        await using var harness = new SchedulerHarness(stageCount: stages, Failover(TimeSpan.FromMinutes(1)));
        var sequences = Enumerable.Range(0, 4).Select(i => harness.Submit(promptLength: 4 + i, maxNewTokens: 12)).ToList();
        await sequences[0].Output.Reader.WaitToReadAsync(); // mid-generation: tokens are flowing
        harness.Stages[failing].Outage(new SiloUnavailableException("silo 127.0.0.1:11601 is dead"), calls: 2, loseCaches: false);

        await SchedulerHarness.AssertRunToLengthAsync(sequences, promptLengthOfFirst: 4, count: 12);
        Assert.True(harness.Stages[failing].OutageFailures == 2, $"Expected the stage's outage to fail 2 calls; it failed {harness.Stages[failing].OutageFailures}.");
    }

    /// <param name="stages">1: one stage, whose steps overlap, so the caches go with a continuation in flight.</param>
    [Theory]
    [InlineData(3, 2)]
    [InlineData(1, 0)]
    public async Task StageThatComesBackWithoutItsCachesHasThemReplayedAndGivesTheUndisturbedTokens(int stages, int failing)
    {
        await using var harness = new SchedulerHarness(stageCount: stages, Failover(TimeSpan.FromMinutes(1)));
        var sequences = Enumerable.Range(0, 4).Select(i => harness.Submit(promptLength: 4 + i, maxNewTokens: 12)).ToList();
        await sequences[0].Output.Reader.WaitToReadAsync();
        // The silo died: calls fail until the stage re-activates elsewhere, and the new activation holds no session.
        harness.Stages[failing].Outage(new Orleans.Runtime.Messaging.ConnectionFailedException("connection to 127.0.0.1:11602 was reset"), calls: 1, loseCaches: true);

        await SchedulerHarness.AssertRunToLengthAsync(sequences, promptLengthOfFirst: 4, count: 12);
        // A replay sends a session from position 0 a second time.
        var replayed = harness.Stages[0].Batches.SelectMany(b => b.Entries).Where(e => e.StartPosition == 0)
            .GroupBy(e => e.SessionId).Count(g => g.Count() > 1);
        Assert.True(replayed > 0, "Expected sessions replayed from position 0 after the stage lost its caches; stage 0 saw none sent from 0 twice.");
    }

    [Fact]
    public async Task StageThatNeverComesBackFailsTheStreamsWithUnavailableNamingTheStageAfterTheWindow()
    {
        await using var harness = new SchedulerHarness(stageCount: 2, Failover(TimeSpan.FromMilliseconds(300)));
        var sequence = harness.Submit(promptLength: 4, maxNewTokens: 50);
        await sequence.Output.Reader.WaitToReadAsync();
        harness.Stages[1].Outage(new TimeoutException("Response did not arrive on time"), calls: int.MaxValue, loseCaches: false);

        var error = await Assert.ThrowsAsync<RpcException>(() => SchedulerHarness.ReadAllAsync(sequence));

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.True(error.Status.Detail.Contains("Stage fake/0/1") && error.Status.Detail.Contains("unreachable for") && error.Status.Detail.Contains("Response did not arrive on time"),
            $"Expected the give-up to name the stage, the time waited and the cause; got \"{error.Status.Detail}\".");
        Assert.True(harness.Stages[1].OutageFailures > 1, $"Expected retries before giving up; the stage failed {harness.Stages[1].OutageFailures} calls.");
    }

    [Fact]
    public async Task CallNeverAnsweredBecauseItsSiloDiedIsAbandonedWhenASiloLeavesAndTheStreamsGetTheUndisturbedTokens()
    {
        await using var harness = new SchedulerHarness(stageCount: 3, Failover(TimeSpan.FromMinutes(1)));
        var sequences = Enumerable.Range(0, 3).Select(i => harness.Submit(promptLength: 4 + i, maxNewTokens: 12)).ToList();
        await sequences[0].Output.Reader.WaitToReadAsync();
        var hung = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Stages[1].HangNext = hung;
        await hung.Task.WaitAsync(TimeSpan.FromSeconds(30)); // a call is now waiting on the "dead" silo

        harness.SignalSiloLoss(); // the silo is declared dead

        await SchedulerHarness.AssertRunToLengthAsync(sequences, promptLengthOfFirst: 4, count: 12);
    }

    [Fact]
    public async Task SequenceCancelledWhileItsStageIsUnreachableFinishesAsCancelled()
    {
        await using var harness = new SchedulerHarness(stageCount: 2, Failover(TimeSpan.FromMinutes(1)));
        var sequence = harness.Submit(promptLength: 4, maxNewTokens: 50);
        await sequence.Output.Reader.WaitToReadAsync();
        harness.Stages[1].Outage(new SiloUnavailableException("dead"), calls: int.MaxValue, loseCaches: false);
        await harness.WaitForAsync(() => harness.Stages[1].OutageFailures > 0, "a step to fail on the unreachable stage");

        harness.Scheduler.Cancel(sequence);

        Assert.Equal(FinishReason.Cancelled, (await SchedulerHarness.ReadAllAsync(sequence))[^1].FinishReason);
    }
}
