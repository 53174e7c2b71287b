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
        await cluster.WaitForStagesAsync(s => s.Sessions == 0 && s.KvBytes == 0, "every stage to free streams B and C after they finished");

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
        // How long a long run takes here, so that the deadline falls well inside it on fast and slow machines alike.
        var clock = Stopwatch.StartNew();
        await ShardedGenerationTests.GenerateAsync(cluster, LongRequest("Measure a long run"));
        var solo = clock.Elapsed;
        await cluster.WaitForStagesAsync(s => s.Sessions == 0, "every stage to free the measuring run");

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
        Assert.True(error.StatusCode == StatusCode.DeadlineExceeded,
            $"A call with a deadline of {solo.TotalMilliseconds / 8:F0} ms (a solo run of {LongRun} tokens took {solo.TotalMilliseconds:F0} ms) " +
            $"ended with {error.StatusCode}: {error.Status.Detail} after {received} tokens.");

        await cluster.WaitForStagesAsync(s => s.Sessions == 0 && s.KvBytes == 0, $"every stage to free the KV cache of the call whose deadline passed after {received} tokens");
        var after = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "still up?", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3 } });
        Assert.NotEmpty(after.Tokens);
    }

    private static GenerateRequest LongRequest(string prompt) =>
        new() { Text = prompt, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = LongRun, IgnoreEos = true } };

    private static int Running(params Task[] calls) => calls.Count(c => !c.IsCompleted);
}
