using System.Globalization;
using System.Text.RegularExpressions;
using Cluster.Contracts.Api;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace Cluster.Deployment.Tests;

/// <summary>
/// Issue #11's bug 7, as reported, on real processes: after the silo of a middle stage is killed under six streams and
/// they all complete, a request that its client gives up on at once (a 50 ms deadline) must not be computed to its end.
/// The gateway's generated-token counter (its /metrics) must not rise by anything near the request's max_new_tokens.
/// </summary>
[Collection(LoopbackProcesses.Name)]
public sealed partial class CancelAfterFailoverTests(ITestOutputHelper output)
{
    private const int MaxNewTokens = 200;

    [Fact]
    public async Task ARequestWhoseDeadlinePassesAtOnceAfterAFailoverIsNotComputedToItsEnd()
    {
        await using var cluster = await LoopbackCluster.StartAsync(portOffset: 60, silos: 3);
        using var channel = GrpcChannel.ForAddress(cluster.GatewayAddress);
        var client = new Generation.GenerationClient(channel);
        using var http = new HttpClient { BaseAddress = new Uri(cluster.GatewayMetricsAddress) };

        var victim = (await FailoverTests.StageSilosAsync(client, cluster))[1]; // the middle stage's silo
        var run = ConcurrentGenerations.Start(channel, Prompts, MaxNewTokens, tokensBeforeStarted: 4);
        await run.EveryStreamStarted.WaitAsync(TimeSpan.FromSeconds(90));
        cluster.Signal(victim, "KILL");
        await run.Completion.WaitAsync(TimeSpan.FromSeconds(120));

        for (var attempt = 0; attempt < 4; attempt++)
        {
            var before = await GeneratedTokensAsync(http);
            var request = new GenerateRequest { Text = Prompts[attempt], Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = MaxNewTokens, IgnoreEos = true } };
            var error = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                using var call = client.Generate(request, deadline: DateTime.UtcNow.AddMilliseconds(50));
                await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
            });
            // DEADLINE_EXCEEDED from the client's own timer, or the server's end of the call when the server's deadline
            // handling reset the stream first (seen as UNAVAILABLE on a loaded machine): either way the client gave up.
            Assert.True(error.StatusCode is StatusCode.DeadlineExceeded or StatusCode.Unavailable,
                $"Attempt {attempt}: the 50 ms call ended {error.StatusCode}: {error.Status.Detail}");
            // Long enough for 200 tokens to have been generated had the request run on (about 30 ms a token here).
            await Task.Delay(TimeSpan.FromSeconds(8));
            var after = await GeneratedTokensAsync(http);
            output.WriteLine($"attempt {attempt}: generated tokens {before} → {after}");
            Assert.True(after - before < MaxNewTokens / 2,
                $"Attempt {attempt}: the gateway generated {after - before} tokens for a request whose 50 ms deadline passed (max_new_tokens {MaxNewTokens}). Logs in {cluster.Logs}.");
        }
    }

    private static readonly string[] Prompts =
    [
        "In the beginning God created", "And the LORD spake unto Moses, saying", "Blessed is the man that walketh",
        "The LORD is my shepherd", "And it came to pass in those days", "Thus saith the LORD of hosts",
    ];

    private static async Task<double> GeneratedTokensAsync(HttpClient http)
    {
        var text = await http.GetStringAsync("/metrics");
        return GenerationTokens().Matches(text).Sum(m => double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"^cluster_generation_tokens_total(?:\{[^}]*\})? ([0-9.eE+]+)", RegexOptions.Multiline)]
    private static partial Regex GenerationTokens();
}
