using Cluster.Contracts.Sampling;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Scheduling;
using Cluster.Gateway.Streaming;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>
/// The schedule step as a pure function: sequences and numbers in, a decision out; no stage, no loop, no clock.
/// Every sequence reserves its positions in blocks of <see cref="Block"/>.
/// </summary>
public sealed class ScheduleStepTests
{
    private const int Block = 64;

    private static long Blocks(int positions) => (positions + Block - 1L) / Block * Block;

    private static RunningSequence Sequence(string id, int promptLength, int maxNewTokens = 10, int computed = 0, int generated = 0)
    {
        var prompt = Enumerable.Range(0, promptLength).Select(i => 10 + i % 90).ToList();
        var request = new GenerationRequest(id, "fake", prompt, null, new SamplingSettings(0f, 0, 1f, 1f, 7, 0, Logprobs: true), maxNewTokens, [], [], false);
        var sequence = new RunningSequence(request, id, [], 0, TextStream.Create(SchedulerHarness.Tokenizer, []));
        for (var i = 0; i < generated; i++)
        {
            sequence.Tokens.Add(100 + i);
            sequence.Generated++;
        }
        sequence.ComputedLength = computed;
        return sequence;
    }

    /// <summary>A running sequence that decodes: everything computed but its last sampled token.</summary>
    private static RunningSequence Decoding(string id, int promptLength = 4) => Sequence(id, promptLength, computed: promptLength, generated: 1);

    private static string Ids(IEnumerable<RunningSequence> sequences) => "[" + string.Join(",", sequences.Select(s => s.Request.RequestId)) + "]";

    private static string Describe(IReadOnlyList<PlannedChunk> batch) =>
        "[" + string.Join(",", batch.Select(c => $"{c.Sequence.Request.RequestId}@{c.Start}+{c.Length}")) + "]";

    private static string Describe(IEnumerable<IReadOnlyList<PlannedChunk>> batches) => string.Join(" ", batches.Select(Describe));

    private static ScheduleDecision Decide(SchedulerOptions options, IReadOnlyCollection<RunningSequence> waiting, IReadOnlyList<RunningSequence> running,
        long freeTokens = 1 << 20, int microBatches = 1, int launchable = 1, bool continuations = false) =>
        new ScheduleStep(options).Decide(waiting, running, freeTokens, Blocks, microBatches, launchable, continuations);

    private static string DescribeContinuations(IEnumerable<IReadOnlyList<PlannedChunk>> batches) =>
        string.Join(" ", batches.Select(b => "[" + string.Join(",", b.Select(c => $"{c.Sequence.Request.RequestId}@{c.Start}+{c.Length}{(c.Continues ? "~" : "")}")) + "]"));

    [Fact]
    public void AdmitsInArrivalOrderWhileTheKvRoomLastsAndABigHeadIsNotOvertakenBySmallerOnesBehindIt()
    {
        // Room for 3 blocks: a (1 block) and b (1 block) fit; c needs 2 blocks and does not; d (1 block) would, but waits behind c.
        var waiting = new[] { Sequence("a", 4), Sequence("b", 4), Sequence("c", 100), Sequence("d", 4) };

        var decision = Decide(new SchedulerOptions(), waiting, [], freeTokens: 3 * Block, launchable: 0);

        Assert.True(Ids(decision.Admitted) == "[a,b]", $"Expected [a,b] admitted (c needs 2 blocks of the 1 left and d may not overtake it); got {Ids(decision.Admitted)}.");
        Assert.True(decision.RefusedBeyondQueue.Count == 0 && decision.MicroBatches.Count == 0,
            $"Nothing refused and nothing launched expected; refused {Ids(decision.RefusedBeyondQueue)}, batches {Describe(decision.MicroBatches)}.");
    }

    [Fact]
    public void AdmitsNoMoreThanMaxRunningSequencesCountingThoseAlreadyRunning()
    {
        var running = new[] { Decoding("r1"), Decoding("r2") };
        var waiting = new[] { Sequence("a", 4), Sequence("b", 4), Sequence("c", 4) };

        var decision = Decide(new SchedulerOptions { MaxRunningSequences = 3 }, waiting, running, launchable: 0);

        Assert.True(Ids(decision.Admitted) == "[a]", $"With 2 running and a limit of 3, expected only [a] admitted; got {Ids(decision.Admitted)}.");
    }

    [Fact]
    public void DecodesComeFirstAndPromptsArePrefilledInChunksWithWhatIsLeftOfTheTokenBudget()
    {
        var options = new SchedulerOptions { MaxBatchTokens = 100 };
        var longPrompt = Sequence("long", 250);
        var running = new[] { longPrompt, Decoding("d1"), Decoding("d2") };

        var decision = Decide(options, [], running, microBatches: 1, launchable: 1);

        var batch = Describe(decision.MicroBatches.Single());
        Assert.True(batch == "[d1@4+1,d2@4+1,long@0+98]",
            $"Expected the two decodes first, then 98 prompt tokens filling the budget of 100; got {batch}.");
    }

    [Fact]
    public void APromptContinuesFromWhatTheStagesAlreadyHold()
    {
        var prompt = Sequence("p", 250, computed: 98);

        var decision = Decide(new SchedulerOptions { MaxBatchTokens = 100 }, [], [prompt]);

        Assert.True(Describe(decision.MicroBatches.Single()) == "[p@98+100]", $"Expected the next chunk [p@98+100]; got {Describe(decision.MicroBatches)}.");
        Assert.False(decision.MicroBatches[0][0].Samples, "A chunk that stops short of the prompt's end must not sample.");
    }

    [Fact]
    public void SpreadsTheRunningSequencesOverTheFreeMicroBatchSlotsInAdmissionOrderAndSkipsThoseInFlight()
    {
        var running = Enumerable.Range(1, 7).Select(i => Decoding($"s{i}")).ToList();
        running[0].StepsInFlight = 1; // s1's step is still on its way through the stages

        var decision = Decide(new SchedulerOptions(), [], running, microBatches: 3, launchable: 3);

        // 7 running over 3 micro-batches: at most 3 each; s1 is in flight, so 6 are ready.
        var batches = Describe(decision.MicroBatches);
        Assert.True(batches == "[s2@4+1,s3@4+1,s4@4+1] [s5@4+1,s6@4+1,s7@4+1]",
            $"Expected two micro-batches of three in admission order, none with s1; got {batches}.");
    }

    [Fact]
    public void LaunchesNothingWhenNoSlotIsFreeAndNewlyAdmittedSequencesJoinTheBatchesOfTheSameStep()
    {
        var waiting = new[] { Sequence("a", 4), Sequence("b", 4) };

        var none = Decide(new SchedulerOptions(), waiting, [], launchable: 0);
        var some = Decide(new SchedulerOptions(), waiting, [], microBatches: 2, launchable: 2);

        Assert.True(Ids(none.Admitted) == "[a,b]" && none.MicroBatches.Count == 0,
            $"With no free slot: expected [a,b] admitted and no micro-batch; got {Ids(none.Admitted)} and {Describe(none.MicroBatches)}.");
        Assert.True(Describe(some.MicroBatches) == "[a@0+4] [b@0+4]",
            $"With 2 slots: expected one admitted prompt in each micro-batch; got {Describe(some.MicroBatches)}.");
    }

    [Fact]
    public void WhatTheKvRoomLeavesWaitingBeyondTheQueueBoundIsRefusedNewestFirstAndSequencesBackFromAStageRefusalKeepTheirPlace()
    {
        // No room at all: nothing is admitted, and 5 waiting with a bound of 2 leaves 3 to refuse.
        var waiting = new[] { Sequence("w1", 4), Sequence("w2", 4), Sequence("w3", 4), Sequence("w4", 4), Sequence("w5", 4) };
        waiting[4].StageRoomRefusals = 1; // w5 was admitted once, refused by a stage, and queued again: it keeps its place

        var decision = Decide(new SchedulerOptions { MaxWaitingRequests = 2 }, waiting, [], freeTokens: 0);

        Assert.True(decision.Admitted.Count == 0 && Ids(decision.RefusedBeyondQueue) == "[w4,w3,w2]",
            $"Expected nothing admitted and [w4,w3,w2] refused (newest first, w5 spared); got admitted {Ids(decision.Admitted)}, refused {Ids(decision.RefusedBeyondQueue)}.");
    }

    [Fact]
    public void TheDecisionChangesNoSequence()
    {
        var waiting = new[] { Sequence("a", 4) };
        var running = new[] { Decoding("r") };

        var decision = Decide(new SchedulerOptions(), waiting, running, microBatches: 2, launchable: 2);

        Assert.True(decision.MicroBatches.Count == 2, $"Expected two micro-batches; got {Describe(decision.MicroBatches)}.");
        Assert.True(!waiting[0].InFlight && !running[0].InFlight && waiting[0].QueueTime is null,
            "The schedule step must leave marking in-flight sequences and admission times to the loop that carries it out.");
    }

    [Fact]
    public void WithContinuationsASequenceWhoseOneStepInFlightSamplesGoesOnInTheNextMicroBatchAtThePositionOfTheTokenItWillGet()
    {
        // a and b decode with their step in flight; c's step in flight is a prompt chunk that does not sample; d is ready.
        var a = Decoding("a");
        var b = Decoding("b");
        var c = Sequence("c", 200, computed: 0);
        var d = Decoding("d");
        foreach (var s in new[] { a, b })
        {
            s.StepsInFlight = 1;
            s.LatestStepSamples = true;
        }
        c.StepsInFlight = 1;

        var decision = Decide(new SchedulerOptions(), [], [a, b, c, d], launchable: 1, continuations: true);
        var without = Decide(new SchedulerOptions(), [], [a, b, c, d], launchable: 1, continuations: false);

        // a and b hold 5 tokens (4 prompt + 1 generated) and compute position 4 in flight: they continue at 5, the position
        // of the token that step samples ("~": taken from the stage's last sample); d is an ordinary decode.
        Assert.True(DescribeContinuations(decision.MicroBatches) == "[a@5+1~,b@5+1~,d@4+1]",
            $"Expected a and b to continue at 5 and d to decode at 4; got {DescribeContinuations(decision.MicroBatches)}.");
        Assert.True(decision.MicroBatches[0].All(chunk => chunk.Samples), "Every continuation samples.");
        Assert.True(DescribeContinuations(without.MicroBatches) == "[d@4+1]", $"Without continuations only d is ready; got {DescribeContinuations(without.MicroBatches)}.");
    }

    [Fact]
    public void ASequenceLaunchedInThisDecisionContinuesInItsNextMicroBatchButNeverPastItsLastTokenOrTwoStepsAhead()
    {
        var fresh = Sequence("p", 4); // its whole prompt fits one chunk, which samples
        var lastOfTwo = Sequence("two", 4, maxNewTokens: 2, computed: 4, generated: 1);
        var cancelled = Decoding("x");
        cancelled.CancelRequested = true;

        var decision = Decide(new SchedulerOptions(), [fresh], [lastOfTwo, cancelled], launchable: 3, continuations: true);

        // Batch 1: the two decodes and the admitted prompt. Batch 2: only p continues (two's next token is its last; x is
        // cancelled, and may finish its step but not start another). No third batch: nothing has one step in flight that samples.
        Assert.True(DescribeContinuations(decision.MicroBatches) == "[two@4+1,x@4+1,p@0+4] [p@4+1~]",
            $"Expected [two@4+1,x@4+1,p@0+4] then [p@4+1~]; got {DescribeContinuations(decision.MicroBatches)}.");
    }
}
