using Cluster.Contracts.Api;
using Cluster.Testing;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// The KV-cache budget and the queue bound what runs at once: what can never fit is refused with the numbers, what
/// fits alone waits its turn and comes out right, a full queue is RESOURCE_EXHAUSTED, and the server keeps serving.
/// </summary>
public sealed class BudgetTests
{
    private const int Stages = 2;
    private const int BlockTokens = 64;
    private const int BlocksPerStage = 2;

    [Fact]
    public async Task ABudgetOfTwoRequestsRefusesWhatCanNeverFitAndRunsSixThatFitAloneOneAfterAnotherWithinIt()
    {
        var model = TinyModelOptions.Llama;
        // One stage's KV bytes per position: keys and values of its layers, in float32.
        long bytesPerToken = 2L * (model.LayerCount / Stages) * model.KeyValueHeadCount * (model.HiddenSize / model.HeadCount) * sizeof(float);
        long budget = BlocksPerStage * BlockTokens * bytesPerToken;
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: Stages, settings: new Dictionary<string, string?>
        {
            ["Cluster:Stages:KvBudgetBytes"] = budget.ToString(),
        });
        for (var s = 0; s < Stages; s++)
        {
            var described = await cluster.Stage(s).Describe();
            Assert.True(described.KvBytesPerToken == bytesPerToken && described.KvBlockTokens == BlockTokens && described.KvBudgetBytes == budget,
                $"Stage {s} describes {described.KvBytesPerToken} bytes per position, blocks of {described.KvBlockTokens}, budget {described.KvBudgetBytes}; " +
                $"the test computed {bytesPerToken}, {BlockTokens}, {budget}.");
        }
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var capacity = BlocksPerStage * BlockTokens;

        // (a) Within the context length (256) but beyond what the stages can ever hold (128).
        var tooBig = new GenerateRequest { Text = "This will never fit", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 150 } };
        var needed = reference.Tokenizer.Encode(tooBig.Text).Count + 150;
        var refused = await Assert.ThrowsAsync<RpcException>(() => ShardedGenerationTests.GenerateAsync(cluster, tooBig));
        Assert.True(refused.StatusCode == StatusCode.ResourceExhausted && refused.Status.Detail.Contains(needed.ToString()) && refused.Status.Detail.Contains(capacity.ToString()),
            $"A request needing {needed} positions on stages holding {capacity}: expected RESOURCE_EXHAUSTED naming both; got {refused.StatusCode}: {refused.Status.Detail}");

        // (b) Six that fit alone (one block each), two at a time: all complete, and no stage ever holds more than its budget.
        var prompts = Enumerable.Range(0, 6).Select(i => $"Wait your turn, request {i}").ToList();
        const int maxNew = 40;
        var peakBytes = new long[Stages];
        var peakSessions = new int[Stages];
        using var stopWatching = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!stopWatching.IsCancellationRequested)
            {
                var statuses = await cluster.StatusesAsync();
                for (var s = 0; s < Stages; s++)
                {
                    peakBytes[s] = Math.Max(peakBytes[s], statuses[s].KvBytes);
                    peakSessions[s] = Math.Max(peakSessions[s], statuses[s].Sessions);
                }
                await Task.Delay(5); // a sampling interval, not a wait for an event
            }
        });
        var runs = prompts.Select(p => ShardedGenerationTests.GenerateAsync(cluster,
            new GenerateRequest { Text = p, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = maxNew, IgnoreEos = true } })).ToList();
        var results = await Task.WhenAll(runs);
        stopWatching.Cancel();
        await watcher;

        for (var i = 0; i < prompts.Count; i++)
        {
            var solo = reference.Generate(prompts[i], maxNew, ignoreEos: true);
            Assert.True(solo.SequenceEqual(results[i].Tokens), $"Request {i} '{prompts[i]}' queued behind the budget: solo [{string.Join(",", solo)}], cluster [{string.Join(",", results[i].Tokens)}].");
        }
        var after = await cluster.WaitForStagesAsync(s => s.HoldsOnlyPrefixCache, "every stage to free the six finished requests (holding nothing but retained prefixes)");
        for (var s = 0; s < Stages; s++)
        {
            Assert.True(peakBytes[s] <= budget && peakSessions[s] <= BlocksPerStage && after[s].KvBudgetBytes == budget,
                $"Stage {s} peaked at {peakBytes[s]} bytes and {peakSessions[s]} sessions; budget {budget} bytes ({BlocksPerStage} requests of one block).");
        }
    }

    [Fact]
    public async Task WithNoWaitingRoomASecondConcurrentRequestIsRefusedWhileTheFirstCompletesAndALaterOneSucceeds()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: Stages, settings: new Dictionary<string, string?>
        {
            ["Gateway:Scheduler:MaxWaitingRequests"] = "0",
            ["Gateway:Scheduler:MaxRunningSequences"] = "1",
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 200, IgnoreEos = true };

        using var first = cluster.Client.Generate(new GenerateRequest { Text = "I got here first", Sampling = sampling }, cancellationToken: timeout.Token);
        Assert.True(await first.ResponseStream.MoveNext(timeout.Token), "The first request ended before its first message.");
        var generated = first.ResponseStream.Current.TokenIds.Count;

        var second = await Assert.ThrowsAsync<RpcException>(() =>
            ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "Me too", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3 } }));
        Assert.True(second.StatusCode == StatusCode.ResourceExhausted && second.Status.Detail.Contains("queue is full", StringComparison.OrdinalIgnoreCase),
            $"A second request while one runs with no waiting room: expected RESOURCE_EXHAUSTED 'queue is full'; got {second.StatusCode}: {second.Status.Detail}");

        GenerateResponse last = first.ResponseStream.Current;
        while (await first.ResponseStream.MoveNext(timeout.Token))
        {
            last = first.ResponseStream.Current;
            generated += last.TokenIds.Count;
        }
        Assert.True(last.FinishReason == FinishReason.Length && generated == 200,
            $"The first request, next to a refused one, ended with {last.FinishReason} after {generated} tokens; expected LENGTH after 200.");

        var later = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "My turn now", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3 } });
        Assert.Equal(3, later.Tokens.Count);
    }
}
