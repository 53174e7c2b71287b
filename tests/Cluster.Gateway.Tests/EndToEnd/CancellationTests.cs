using System.Diagnostics;
using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>A cancelled or timed-out call ends with its status, frees its KV cache on every stage, and disturbs no one else.</summary>
public sealed class CancellationTests
{
    // Long enough to still be running when the test acts (the tiny model's context is 256 positions).
    private const uint LongRun = 200;

    [Fact]
    public async Task CancellingOneOfThreeStreamsFreesItsCacheOnEveryStageAndTheOthersEqualTheirSoloRuns()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        string[] prompts = ["Cancel me after one token", "Keep going, stream B", "Keep going, stream C"];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var cancelA = new CancellationTokenSource();

        using var a = cluster.Client.Generate(LongRequest(prompts[0]), cancellationToken: cancelA.Token);
        var b = ShardedGenerationTests.GenerateAsync(cluster, LongRequest(prompts[1]));
        var c = ShardedGenerationTests.GenerateAsync(cluster, LongRequest(prompts[2]));
        Assert.True(await a.ResponseStream.MoveNext(timeout.Token), "Stream A ended before its first message.");
        Assert.Equal(FinishReason.Unspecified, a.ResponseStream.Current.FinishReason);

        cancelA.Cancel();
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await a.ResponseStream.MoveNext(timeout.Token))
            {
            }
        });
        Assert.True(error.StatusCode == StatusCode.Cancelled, $"Stream A after cancel: {error.StatusCode}: {error.Status.Detail}");

        // A's cache goes from every stage; B's and C's stay while they run (a finished one may linger until its release lands).
        await cluster.WaitForStagesAsync(s => s.Sessions <= Running(b, c), "stream A's KV cache to be freed on every stage after it was cancelled");
        var results = await Task.WhenAll(b, c);
        await cluster.WaitForStagesAsync(s => s.HoldsOnlyPrefixCache, "every stage to free streams B and C after they finished (holding nothing but retained prefixes)");

        for (var i = 0; i < 2; i++)
        {
            var solo = reference.Generate(prompts[i + 1], (int)LongRun, ignoreEos: true);
            var (tokens, last) = results[i];
            Assert.True(solo.SequenceEqual(tokens),
                $"Stream {(char)('B' + i)} '{prompts[i + 1]}' next to a cancelled stream: solo [{string.Join(",", solo)}], cluster [{string.Join(",", tokens)}].");
            Assert.Equal(FinishReason.Length, last.FinishReason);
        }
    }

    [Fact]
    public async Task ACallWhoseDeadlinePassesEndsWithDeadlineExceededAndFreesItsCacheOnEveryStage()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        // How long a long run takes here, so that the deadline falls well inside it on fast and slow machines alike;
        // measured warm, or activation and JIT would stretch it past the run it is meant to cut short.
        await WarmUpAsync(cluster);
        var clock = Stopwatch.StartNew();
        await ShardedGenerationTests.GenerateAsync(cluster, LongRequest("Measure a long run"));
        var solo = clock.Elapsed;
        await cluster.WaitForStagesAsync(s => s.HoldsOnlyPrefixCache, "every stage to free the measuring run (holding nothing but retained prefixes)");

        var deadline = DateTime.UtcNow + solo / 8;
        using var call = cluster.Client.Generate(LongRequest("Run out of time"), deadline: deadline);
        var received = 0;
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                received += call.ResponseStream.Current.TokenIds.Count;
            }
        });
        var endedAt = DateTime.UtcNow;
        Assert.True(EndedByItsDeadline(error, deadline, endedAt),
            $"A call with a deadline of {solo.TotalMilliseconds / 8:F0} ms (a solo run of {LongRun} tokens took {solo.TotalMilliseconds:F0} ms) " +
            $"ended with {error.StatusCode}: {error.Status.Detail} after {received} tokens, {(endedAt - deadline).TotalMilliseconds:F0} ms after its deadline.");
        Assert.True(received < LongRun, $"The call received all {received} tokens: its deadline did not cut it short.");

        await cluster.WaitForStagesAsync(s => s.HoldsOnlyPrefixCache, $"every stage to free the KV cache of the call whose deadline passed after {received} tokens (holding nothing but retained prefixes) (holding nothing but retained prefixes)");
        var after = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "still up?", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3 } });
        Assert.NotEmpty(after.Tokens);
    }

    [Fact]
    public async Task AWaitingCallWhoseDeadlinePassesEndsWithDeadlineExceededAndLeavesTheQueueWithoutReachingAStage()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2, settings: new Dictionary<string, string?>
        {
            ["Gateway:Scheduler:MaxRunningSequences"] = "1", // whoever comes second waits
        });
        // Warm first (grain activations, JIT): a cold measuring run would be several times the running call's length,
        // and a deadline derived from it could outlast the running call (seen in CI: the "waiting" call then ran).
        await WarmUpAsync(cluster);
        var clock = Stopwatch.StartNew();
        await ShardedGenerationTests.GenerateAsync(cluster, LongRequest("Measure a long run"));
        var solo = clock.Elapsed;
        var before = (await cluster.WaitForStagesAsync(s => s.HoldsOnlyPrefixCache, "every stage to free the measuring run (holding nothing but retained prefixes)"))[0].TokensComputed;

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var running = cluster.Client.Generate(LongRequest("I hold the only running place"), cancellationToken: timeout.Token);
        Assert.True(await running.ResponseStream.MoveNext(timeout.Token), "The running call ended before its first message.");
        // Well inside the running call's remaining time, so the deadline passes while this call still waits.
        var deadline = DateTime.UtcNow + solo / 8;
        using var waiting = cluster.Client.Generate(LongRequest("I wait and run out of time"), deadline: deadline);
        var error = await Assert.ThrowsAsync<RpcException>(() => waiting.ResponseStream.MoveNext(CancellationToken.None));
        Assert.True(EndedByItsDeadline(error, deadline, DateTime.UtcNow),
            $"A call waiting behind a {LongRun}-token run (solo {solo.TotalMilliseconds:F0} ms) with a deadline of {solo.TotalMilliseconds / 8:F0} ms ended with {error.StatusCode}: {error.Status.Detail}.");

        // Queued after it: had the expired call stayed in the queue, it would run (first come, first served) before this one.
        var next = cluster.Client.Generate(new GenerateRequest { Text = "next", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3, IgnoreEos = true } },
            cancellationToken: timeout.Token);
        var runningLast = await LastAsync(running, timeout.Token);
        var nextLast = await LastAsync(next, timeout.Token);
        await cluster.WaitForStagesAsync(s => s.HoldsOnlyPrefixCache, "every stage to free the running call and the next one (holding nothing but retained prefixes)");

        // Stage 0 computes each prompt, then each generated token but the last: the two calls that ran, nothing more.
        var expected = runningLast.Usage.PromptTokens + runningLast.Usage.GeneratedTokens - 1 + nextLast.Usage.PromptTokens + nextLast.Usage.GeneratedTokens - 1;
        var computed = (await cluster.Stage(0).GetStatus()).TokensComputed - before;
        Assert.True(computed == expected,
            $"Stage 0 computed {computed} tokens for the running call ({runningLast.Usage.PromptTokens} + {runningLast.Usage.GeneratedTokens}) and the next " +
            $"({nextLast.Usage.PromptTokens} + {nextLast.Usage.GeneratedTokens}); expected {expected}: the expired call must not have reached a stage.");
    }

    private static async Task<GenerateResponse> LastAsync(AsyncServerStreamingCall<GenerateResponse> call, CancellationToken cancellation)
    {
        var last = call.ResponseStream.Current;
        while (await call.ResponseStream.MoveNext(cancellation))
        {
            last = call.ResponseStream.Current;
        }
        Assert.True(last is { FinishReason: not FinishReason.Unspecified }, $"A call ended without a final message; its last was {last}.");
        return last!;
    }

    /// <summary>
    /// At a deadline both ends act: the client reports DEADLINE_EXCEEDED, and grpc-dotnet's server resets the stream.
    /// When the reset reaches the client before its own timer fires, the client reports the abort instead (seen in CI
    /// under load). Either way the call ended because its deadline passed, not before it.
    /// </summary>
    private static bool EndedByItsDeadline(RpcException error, DateTime deadline, DateTime endedAt) =>
        error.StatusCode == StatusCode.DeadlineExceeded
        || (error.StatusCode is StatusCode.Unavailable or StatusCode.Internal && error.Status.Detail.Contains("aborted") && endedAt >= deadline);

    private static Task WarmUpAsync(ClusterUnderTest cluster) =>
        ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "warm up", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 8, IgnoreEos = true } });

    private static GenerateRequest LongRequest(string prompt) =>
        new() { Text = prompt, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = LongRun, IgnoreEos = true } };

    private static int Running(params Task[] calls) => calls.Count(c => !c.IsCompleted);
}
