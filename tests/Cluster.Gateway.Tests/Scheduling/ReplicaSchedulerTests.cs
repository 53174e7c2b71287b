using Cluster.Contracts.Stages;
using Cluster.Contracts.Api;
using Cluster.Gateway.Admission;
using Cluster.Gateway.Scheduling;
using Grpc.Core;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>Continuous batching, pipelining, chunked prefill, replay, cancellation and refusals, on fake stages.</summary>
public sealed class ReplicaSchedulerTests
{
    [Fact]
    public async Task SixteenConcurrentSequencesEachGetTheirOwnTokensAndFinishAtTheLengthLimit()
    {
        await using var harness = new SchedulerHarness(stageCount: 2);
        var sequences = Enumerable.Range(0, 16).Select(i => harness.Submit(promptLength: 3 + i, maxNewTokens: 5 + i % 3)).ToList();
        for (var i = 0; i < sequences.Count; i++)
        {
            var responses = await SchedulerHarness.ReadAllAsync(sequences[i]);
            var expected = FakeStage.TokensAfter(3 + i, 5 + i % 3);
            Assert.True(expected.SequenceEqual(SchedulerHarness.TokenIds(responses)),
                $"Sequence {i}: expected [{string.Join(",", expected)}], streamed [{string.Join(",", SchedulerHarness.TokenIds(responses))}].");
            var last = responses[^1];
            Assert.Equal(FinishReason.Length, last.FinishReason);
            Assert.Equal((uint)expected.Count, last.Usage.GeneratedTokens);
            Assert.Equal((uint)(3 + i), last.Usage.PromptTokens);
            Assert.True(last.Timings.Steps == expected.Count && last.Timings.Stages.Count == 2,
                $"Sequence {i}: expected {expected.Count} steps (one prefill, then a decode per further token) timed on 2 stages; got {last.Timings.Steps} steps on {last.Timings.Stages.Count} stages.");
        }
        await harness.WaitForAsync(() => harness.Capacity.Reserved == 0, "every sequence's reserved positions to come back once the stages released them");
    }

    [Fact]
    public async Task KeepsOneMicroBatchPerStageInFlightAndNoMore()
    {
        await using var harness = new SchedulerHarness(stageCount: 3);
        var sequences = Enumerable.Range(0, 6).Select(_ => harness.Submit(promptLength: 4, maxNewTokens: 12)).ToList();
        foreach (var sequence in sequences)
        {
            await SchedulerHarness.ReadAllAsync(sequence);
        }
        Assert.True(harness.Probe.MaxInPipeline == 3, $"With 3 stages and 6 sequences, expected 3 micro-batches in flight at the peak; saw {harness.Probe.MaxInPipeline}.");
        // Every step carries about a third of the running sequences, never one sequence twice.
        foreach (var batch in harness.Stages[0].Batches)
        {
            Assert.Equal(batch.Entries.Count, batch.Entries.Select(e => e.SessionId).Distinct().Count());
            Assert.True(batch.Entries.Count <= 2, $"Step {batch.StepId} carried {batch.Entries.Count} sequences; 6 sequences over 3 micro-batches is 2 each.");
        }
    }

    [Fact]
    public async Task LongPromptIsPrefilledInChunksWhileARunningSequenceKeepsDecoding()
    {
        await using var harness = new SchedulerHarness(stageCount: 1, new SchedulerOptions { MaxBatchTokens = 256 });
        var running = harness.Submit(promptLength: 4, maxNewTokens: 40);
        await running.Output.Reader.WaitToReadAsync(); // it is decoding before the long prompt arrives
        var longPrompt = harness.Submit(promptLength: 600, maxNewTokens: 2);

        var runningTokens = SchedulerHarness.TokenIds(await SchedulerHarness.ReadAllAsync(running));
        var longTokens = SchedulerHarness.TokenIds(await SchedulerHarness.ReadAllAsync(longPrompt));

        Assert.Equal(FakeStage.TokensAfter(4, 40), runningTokens);
        Assert.Equal(FakeStage.TokensAfter(600, 2), longTokens);
        var prefillSteps = harness.Stages[0].Batches
            .Where(b => b.Entries.Any(e => e.SessionId == longPrompt.StageSessionId && e.TokenIds.Length > 1))
            .ToList();
        var chunkLengths = prefillSteps.Select(b => b.Entries.Single(e => e.SessionId == longPrompt.StageSessionId).TokenIds.Length).ToList();
        Assert.True(chunkLengths.Count >= 3 && chunkLengths.Sum() == 600 && chunkLengths.All(n => n <= 255),
            $"Expected the 600-token prompt in chunks of at most 255 tokens (one token of the 256 budget goes to the running decode); got [{string.Join(",", chunkLengths)}].");
        foreach (var step in prefillSteps.Where(b => b.Entries.Any(e => e.SessionId == running.StageSessionId) is false))
        {
            Assert.Fail($"Step {step.StepId} prefilled the long prompt without the running sequence's decode.");
        }
    }

    [Fact]
    public async Task SequenceWhoseCacheAStageLostIsReplayedAndGivesTheSameTokens()
    {
        await using var harness = new SchedulerHarness(stageCount: 2);
        var sequence = harness.Submit(promptLength: 5, maxNewTokens: 10);
        // After the first token, the last stage loses the cache (evicted, or its silo died).
        await sequence.Output.Reader.WaitToReadAsync();
        harness.Stages[1].Drop(sequence.StageSessionId);

        var tokens = SchedulerHarness.TokenIds(await SchedulerHarness.ReadAllAsync(sequence));

        Assert.Equal(FakeStage.TokensAfter(5, 10), tokens);
        Assert.Contains(harness.Stages[0].Batches, b => b.Entries.Any(e => e.SessionId == sequence.StageSessionId && e.StartPosition == 0 && e.TokenIds.Length > 5));
    }

    [Fact]
    public async Task CancelledSequenceFinishesAsCancelledAndIsFreedOnEveryStage()
    {
        await using var harness = new SchedulerHarness(stageCount: 2);
        var sequence = harness.Submit(promptLength: 5, maxNewTokens: 1000);
        await sequence.Output.Reader.WaitToReadAsync();
        harness.Scheduler.Cancel(sequence);

        var responses = await SchedulerHarness.ReadAllAsync(sequence);

        Assert.Equal(FinishReason.Cancelled, responses[^1].FinishReason);
        Assert.True(responses.Count < 1000, $"The cancelled sequence streamed {responses.Count} messages.");
        await harness.WaitForAsync(() => harness.Stages.All(s => s.Releases.Any(r => r.Ids.Contains(sequence.StageSessionId) && r.Release == CacheRelease.Free)),
            "every stage to be told to free the cancelled sequence");
        await harness.WaitForAsync(() => harness.Capacity.Reserved == 0, "the cancelled sequence's reserved positions to come back");
    }

    [Fact]
    public async Task ASequenceWaitingForRoomReachesNoStageBeforeEveryStageReleasedTheOneThatLeftIt()
    {
        // 64 positions per stage: room for one sequence of 4 + 10 positions (one block) at a time.
        await using var harness = new SchedulerHarness(stageCount: 2, kvBudgetBytes: 64 * 256);
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Stages.ForEach(s => s.HoldReleases = hold);
        var first = harness.Submit(promptLength: 4, maxNewTokens: 10);
        var second = harness.Submit(promptLength: 4, maxNewTokens: 10);

        Assert.Equal(FinishReason.Length, (await SchedulerHarness.ReadAllAsync(first))[^1].FinishReason);
        await harness.WaitForAsync(() => harness.Stages.All(s => s.Releases.Any(r => r.Ids.Contains(first.StageSessionId))), "every stage to be asked to free the first sequence");
        hold.SetResult();
        Assert.Equal(FakeStage.TokensAfter(4, 10), SchedulerHarness.TokenIds(await SchedulerHarness.ReadAllAsync(second)));

        var events = harness.Probe.Events.ToList();
        var firstForward = events.IndexOf($"forward 0 {second.StageSessionId}");
        var releases = harness.Stages.Select((_, s) => events.IndexOf($"released {s} {first.StageSessionId}")).ToList();
        var lastRelease = releases.Max();
        Assert.True(releases.All(r => r >= 0) && firstForward > lastRelease,
            $"The waiting sequence reached stage 0 at event {firstForward}, before every stage had released the first one (event {lastRelease}): [{string.Join("; ", events.Where(e => !e.StartsWith("forward 1")))}].");
    }

    [Fact]
    public async Task StopTokenEndsTheSequenceWithStop()
    {
        await using var harness = new SchedulerHarness(stageCount: 1);
        var stopAt = FakeStage.TokenAt(5 + 3); // the fourth generated token
        var sequence = harness.Submit(promptLength: 5, maxNewTokens: 50, stopTokenIds: [stopAt]);

        var responses = await SchedulerHarness.ReadAllAsync(sequence);

        Assert.Equal(FakeStage.TokensAfter(5, 4), SchedulerHarness.TokenIds(responses));
        Assert.Equal(FinishReason.Stop, responses[^1].FinishReason);
    }

    [Fact]
    public async Task RequestLargerThanTheKvBudgetIsRefusedWithResourceExhausted()
    {
        await using var harness = new SchedulerHarness(stageCount: 2);
        // The fake stages hold 1 MiB / 256 bytes = 4096 positions.
        var error = Assert.Throws<RpcException>(() => harness.Submit(promptLength: 10, maxNewTokens: 5000));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("4096", error.Status.Detail);
    }

    [Fact]
    public async Task FullQueueRefusesWithResourceExhausted()
    {
        await using var harness = new SchedulerHarness(stageCount: 1, new SchedulerOptions { MaxRunningSequences = 1, MaxWaitingRequests = 2 });
        var admitted = Enumerable.Range(0, 3).Select(_ => harness.Submit(promptLength: 2, maxNewTokens: 50)).ToList();

        var error = Assert.Throws<RpcException>(() => harness.Submit(promptLength: 2, maxNewTokens: 5));

        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Contains("queue is full", error.Status.Detail);
        foreach (var sequence in admitted)
        {
            Assert.Equal(FinishReason.Length, (await SchedulerHarness.ReadAllAsync(sequence))[^1].FinishReason);
        }
    }

    [Fact]
    public async Task TheAcceptanceHookRunsOnlyForAcceptedRequestsAndARefusingHookLeavesNoTraceInTheQueue()
    {
        // The per-key token charge rides on this hook: a request refused for room must not pay, and a request whose
        // charge fails must not hold a place in the queue.
        await using var harness = new SchedulerHarness(stageCount: 1, new SchedulerOptions { MaxRunningSequences = 1, MaxWaitingRequests = 1 });
        var charged = 0;
        var refusedByHook = Assert.Throws<RpcException>(() => harness.Submit(promptLength: 2, maxNewTokens: 50,
            onAccepted: () => throw new RpcException(new Status(StatusCode.ResourceExhausted, "no tokens left"))));
        Assert.Equal("no tokens left", refusedByHook.Status.Detail);
        var admitted = Enumerable.Range(0, 2).Select(_ => harness.Submit(promptLength: 2, maxNewTokens: 50, onAccepted: () => charged++)).ToList();

        var queueFull = Assert.Throws<RpcException>(() => harness.Submit(promptLength: 2, maxNewTokens: 5, onAccepted: () => charged++));

        Assert.Contains("queue is full", queueFull.Status.Detail);
        Assert.True(charged == 2, $"The hook ran {charged} times; expected once for each of the 2 accepted requests, not for the refused one.");
        foreach (var sequence in admitted)
        {
            Assert.Equal(FinishReason.Length, (await SchedulerHarness.ReadAllAsync(sequence))[^1].FinishReason);
        }
    }

    [Fact]
    public async Task WhenTheKvBudgetKeepsSequencesWaitingTheQueueStillHoldsNoMoreThanItsBoundAndRefusesTheRestWithARetryHint()
    {
        // One block per stage: one sequence runs; MaxRunningSequences alone would let 8 + 2 in.
        var options = new SchedulerOptions { MaxRunningSequences = 8, MaxWaitingRequests = 2, RetryAfter = TimeSpan.FromMilliseconds(300) };
        await using var harness = new SchedulerHarness(stageCount: 2, options, kvBudgetBytes: 64 * 256);
        var sequences = Enumerable.Range(0, 5).Select(_ => harness.Submit(promptLength: 4, maxNewTokens: 50)).ToList();

        var outcomes = new List<string>();
        foreach (var sequence in sequences)
        {
            try
            {
                outcomes.Add((await SchedulerHarness.ReadAllAsync(sequence))[^1].FinishReason.ToString());
            }
            catch (RpcException error)
            {
                outcomes.Add($"{error.StatusCode} {Overloaded.RetryAfter(error)?.TotalMilliseconds}");
            }
        }

        string[] expected = ["Length", "Length", "Length", "ResourceExhausted 300", "ResourceExhausted 300"];
        Assert.True(expected.SequenceEqual(outcomes),
            $"One running and two waiting should complete, the two beyond the queue be refused with the hint: expected [{string.Join(", ", expected)}], got [{string.Join(", ", outcomes)}].");
        Assert.True(sequences.Skip(3).All(s => harness.Stages[0].Batches.All(b => b.Entries.All(e => e.SessionId != s.StageSessionId))),
            "A sequence refused for a full queue must never reach a stage.");
    }

    [Fact]
    public async Task StageFailureFailsOnlyThatStepsSequencesAndTheSchedulerKeepsServing()
    {
        await using var harness = new SchedulerHarness(stageCount: 2);
        // Not a transient cluster error (those are retried, see StageFailoverTests): the step's sequences fail at once.
        harness.Stages[1].FailNext = new InvalidOperationException("stage 1 broke");
        var failed = harness.Submit(promptLength: 3, maxNewTokens: 4);

        var error = await Assert.ThrowsAsync<RpcException>(() => SchedulerHarness.ReadAllAsync(failed));
        Assert.Equal(StatusCode.Internal, error.StatusCode);
        Assert.Contains("stage 1 broke", error.Status.Detail);

        var next = harness.Submit(promptLength: 3, maxNewTokens: 4);
        Assert.Equal(FakeStage.TokensAfter(3, 4), SchedulerHarness.TokenIds(await SchedulerHarness.ReadAllAsync(next)));
    }
}
