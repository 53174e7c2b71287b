using Grpc.Core;
using Cluster.Contracts.Api;
using Cluster.Gateway.Scheduling;
using Microsoft.Extensions.Time.Testing;
using Orleans.Runtime;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>
/// Issue #11 item 7: a request that ends early (deadline, cancel) right after a failover must stop at its next step,
/// whatever order its arrival, its cancel and its steps reach the scheduler loop in.
/// </summary>
public sealed class CancelAfterFailoverTests
{
    private static SchedulerOptions Failover() => new()
    {
        FailoverTimeout = TimeSpan.FromMinutes(1),
        FailoverRetryDelay = TimeSpan.FromMilliseconds(1),
        FailoverMaxRetryDelay = TimeSpan.FromMilliseconds(20),
    };

    [Fact]
    public async Task ARequestCancelledAtOnceAfterARecoveredFailoverStopsWithinAFewStepsAndFreesItsRoom()
    {
        await using var harness = new SchedulerHarness(stageCount: 3, Failover());
        var streams = Enumerable.Range(0, 6).Select(i => harness.Submit(promptLength: 4 + i, maxNewTokens: 40)).ToList();
        await streams[0].Output.Reader.WaitToReadAsync();
        // The middle stage's silo dies: one call is never answered, the next ones fail, the new activation holds no cache.
        var hung = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Stages[1].HangNext = hung;
        await hung.Task.WaitAsync(TimeSpan.FromSeconds(30));
        harness.Stages[1].Outage(new SiloUnavailableException("silo of stage 1 is dead"), calls: 3, loseCaches: true);
        harness.SignalSiloLoss();
        foreach (var stream in streams)
        {
            Assert.Equal(FinishReason.Length, (await SchedulerHarness.ReadAllAsync(stream))[^1].FinishReason);
        }
        var stepsBefore = harness.Stages[2].Batches.Count;

        var late = harness.Submit(promptLength: 4, maxNewTokens: 200);
        harness.Scheduler.Cancel(late); // what a deadline already passed does: the handler registers right after Submit
        var responses = await SchedulerHarness.ReadAllAsync(late);

        var steps = harness.Stages[2].Batches.Count - stepsBefore;
        Assert.True(responses[^1].FinishReason == FinishReason.Cancelled && steps <= 2,
            $"Expected the cancelled request to end CANCELLED within its in-flight step; it ended {responses[^1].FinishReason} after {SchedulerHarness.TokenIds(responses).Count} tokens and {steps} steps on the last stage.");
        await harness.WaitForAsync(() => harness.Capacity.Reserved == 0 && harness.Scheduler.Load == 0,
            $"every reservation and load to come back (reserved {harness.Capacity.Reserved}, load {harness.Scheduler.Load})");
    }

    [Fact]
    public async Task ACancelThatReachesTheLoopBeforeTheArrivalLeavesNoReservationAndReachesNoStage()
    {
        await using var harness = new SchedulerHarness(stageCount: 2);
        var sequence = harness.Create(promptLength: 4, maxNewTokens: 50);

        harness.Scheduler.Cancel(sequence); // a registration made before Submit, on a token already cancelled
        harness.Scheduler.Submit(sequence);
        var responses = await SchedulerHarness.ReadAllAsync(sequence);
        var after = harness.Submit(promptLength: 4, maxNewTokens: 3); // a step after both events: the loop has handled them
        await SchedulerHarness.ReadAllAsync(after);

        Assert.True(responses.Count == 1 && responses[0].FinishReason == FinishReason.Cancelled,
            $"Expected only a final CANCELLED message; got {responses.Count} messages ending {responses[^1].FinishReason}.");
        Assert.True(harness.Stages[0].Batches.All(b => b.Entries.All(e => e.SessionId != sequence.StageSessionId)),
            "A sequence cancelled before it arrived must never reach a stage.");
        await harness.WaitForAsync(() => harness.Capacity.Reserved == 0 && harness.Scheduler.Load == 0,
            $"every reservation and load to come back (reserved {harness.Capacity.Reserved}, load {harness.Scheduler.Load})");
    }

    [Fact]
    public async Task ARequestPastItsDeadlineStopsAtItsNextStepWithoutAnyCancelSignal()
    {
        // The deadline's cancellation was seen to reach the handler only after a short request had run to its end;
        // the scheduler checks each sequence's deadline itself, at every event of its loop, and ends the call
        // DEADLINE_EXCEEDED as gRPC ends a call past its deadline.
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var harness = new SchedulerHarness(stageCount: 2, time: clock);
        var sequence = harness.Create(promptLength: 4, maxNewTokens: 1500, deadline: clock.GetUtcNow().UtcDateTime.AddSeconds(1));
        harness.Scheduler.Submit(sequence);
        _ = await sequence.Output.Reader.ReadAsync(); // the first token: it is running
        clock.Advance(TimeSpan.FromSeconds(2));

        var (tokens, error) = await DrainAsync(sequence);
        Assert.True(error?.StatusCode == StatusCode.DeadlineExceeded && tokens < 1500,
            $"Expected DEADLINE_EXCEEDED soon after the deadline; the stream ended {error?.StatusCode.ToString() ?? "OK"} after {tokens + 1} of 1500 tokens.");
        await harness.WaitForAsync(() => harness.Capacity.Reserved == 0 && harness.Scheduler.Load == 0,
            $"every reservation and load to come back (reserved {harness.Capacity.Reserved}, load {harness.Scheduler.Load})");
    }

    [Fact]
    public async Task ARequestWhoseDeadlinePassedBeforeItArrivedReachesNoStage()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var harness = new SchedulerHarness(stageCount: 2, time: clock);
        var sequence = harness.Create(promptLength: 4, maxNewTokens: 50, deadline: clock.GetUtcNow().UtcDateTime.AddMilliseconds(-1));
        harness.Scheduler.Submit(sequence);
        var (tokens, error) = await DrainAsync(sequence);

        Assert.True(error?.StatusCode == StatusCode.DeadlineExceeded && tokens == 0,
            $"Expected DEADLINE_EXCEEDED before any token; the stream ended {error?.StatusCode.ToString() ?? "OK"} after {tokens} tokens.");
        Assert.True(harness.Stages[0].Batches.All(b => b.Entries.All(e => e.SessionId != sequence.StageSessionId)),
            "A request whose deadline had passed on arrival must never reach a stage.");
    }

    /// <summary>Reads the stream to its end: the tokens it carried and the error it ended with (null: it ended OK).</summary>
    private static async Task<(int Tokens, RpcException? Error)> DrainAsync(RunningSequence sequence)
    {
        var tokens = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            await foreach (var response in sequence.Output.Reader.ReadAllAsync(timeout.Token))
            {
                tokens += response.TokenIds.Count;
            }
            return (tokens, null);
        }
        catch (RpcException error)
        {
            return (tokens, error);
        }
    }
}
