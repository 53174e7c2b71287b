using Cluster.Contracts.Api;
using Cluster.Gateway.Scheduling;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>
/// A one-stage replica launches each decode step while the one before it computes, the input token left for the stage
/// to take from its own last sample (<see cref="SchedulerOptions.OverlapSteps"/>): the streams keep exactly the tokens
/// of steps run one at a time, through stop tokens and steps that come back out of order (failed steps and lost
/// caches on one stage: <see cref="StageFailoverTests"/>).
/// </summary>
public sealed class OverlapStepsTests
{
    private static SchedulerOptions Options(bool overlap) => new() { OverlapSteps = overlap };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ConcurrentSequencesStreamTheSameTokensWithOrWithoutOverlapAndOnlyOverlapSendsContinuations(bool overlap)
    {
        await using var harness = new SchedulerHarness(stageCount: 1, Options(overlap));
        var sequences = Enumerable.Range(0, 4).Select(i => harness.Submit(promptLength: 4 + i, maxNewTokens: 12)).ToList();

        await SchedulerHarness.AssertRunToLengthAsync(sequences, promptLengthOfFirst: 4, count: 12);

        var entries = harness.Stages[0].Batches.SelectMany(b => b.Entries).ToList();
        var continuations = entries.Count(e => e.ContinuesSample);
        if (overlap)
        {
            // 4 sequences of 12 tokens: 11 decode steps each after the prompt, nearly all of them continuations.
            Assert.True(continuations >= 4 * 8 && harness.Probe.MaxInPipeline == 2,
                $"Expected most decode entries to continue a step in flight, two steps in flight at a time; got {continuations} continuations of {entries.Count} entries, at most {harness.Probe.MaxInPipeline} in flight.");
            Assert.True(entries.Where(e => e.ContinuesSample).All(e => e.TokenIds.Length == 0 && e.Sampling is not null && e.Prefix is null),
                "A continuation carries no token, samples, and copies no prefix.");
        }
        else
        {
            Assert.True(continuations == 0 && harness.Probe.MaxInPipeline == 1,
                $"Without overlap expected no continuation and one step in flight; got {continuations} and {harness.Probe.MaxInPipeline}.");
        }
    }

    [Fact]
    public async Task AStopTokenEndsTheStreamAtItsTokenAndTheContinuationAlreadyComputedIsDropped()
    {
        await using var harness = new SchedulerHarness(stageCount: 1, Options(overlap: true));
        var stopAt = FakeStage.TokenAt(5 + 3); // the fourth generated token
        var sequence = harness.Submit(promptLength: 5, maxNewTokens: 50, stopTokenIds: [stopAt]);

        var responses = await SchedulerHarness.ReadAllAsync(sequence);

        Assert.Equal(FakeStage.TokensAfter(5, 4), SchedulerHarness.TokenIds(responses));
        Assert.Equal(FinishReason.Stop, responses[^1].FinishReason);
        // The step after the stop token was launched before the stop was seen: the stage computed position 8 (the stop token's) for nothing.
        await harness.WaitForAsync(() => harness.Stages[0].Batches.SelectMany(b => b.Entries).Any(e => e.ContinuesSample && e.StartPosition == 5 + 3),
            "the stage to see the continuation that computes the stop token's position (launched before the stop was known)");
        await harness.WaitForAsync(() => harness.Stages[0].Releases.Any(r => r.Ids.Contains(sequence.StageSessionId)), "the stopped sequence's cache to be released");
    }

    [Fact]
    public async Task AContinuationThatComesBackBeforeItsStepIsDroppedAndACancelledSequenceTakesNoTokenAfterItEnds()
    {
        await using var harness = new SchedulerHarness(stageCount: 1, Options(overlap: true));
        var holdStep = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holdContinuation = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Step 1 (the prompt, which samples) and step 2 (its continuation) are both held.
        harness.Stages[0].HoldAnswer = batch => batch.StepId switch { 1 => holdStep.Task, 2 => holdContinuation.Task, _ => null };
        var sequence = harness.Submit(promptLength: 4, maxNewTokens: 50);
        await harness.WaitForAsync(() => harness.Stages[0].Batches.Count >= 2, "the stage to compute step 2, the continuation of step 1");

        harness.Scheduler.Cancel(sequence); // both steps in flight: the cancel waits for one to come back
        holdContinuation.SetResult(); // the continuation comes back first: dropped (its step has not), and the cancel ends the sequence
        var responses = await SchedulerHarness.ReadAllAsync(sequence);
        var other = harness.Submit(promptLength: 6, maxNewTokens: 5);
        holdStep.SetResult(); // then the step it continued: its token must not reach the ended stream

        Assert.Equal(FinishReason.Cancelled, responses[^1].FinishReason);
        var streamed = SchedulerHarness.TokenIds(responses);
        Assert.True(streamed.SequenceEqual(FakeStage.TokensAfter(4, streamed.Count)), $"Streamed [{string.Join(",", streamed)}], not the sequence's tokens.");
        var next = SchedulerHarness.TokenIds(await SchedulerHarness.ReadAllAsync(other));
        Assert.True(next.SequenceEqual(FakeStage.TokensAfter(6, 5)), $"The scheduler must go on after the late step: the next sequence streamed [{string.Join(",", next)}].");
    }
}
