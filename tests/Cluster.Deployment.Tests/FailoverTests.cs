using System.Diagnostics;
using System.Text.RegularExpressions;
using Cluster.Contracts.Api;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace Cluster.Deployment.Tests;

/// <summary>
/// Failover mid-generation on real processes (see <see cref="LoopbackCluster"/>): three silos, each holding one stage
/// of models/default, Redis membership, the gateway. Eight greedy generations run undisturbed first; then the same
/// eight run again and, once every stream has received some tokens, the silo holding the middle stage is killed
/// (SIGKILL) or stopped (SIGTERM, as a rolling update does). Every stream must complete with the undisturbed run's
/// tokens; the stage must end up on a surviving silo. The stall is measured and printed, not asserted (timing on a
/// shared 2-core machine is noise): kill → each stream's first token after it, and the largest inter-token gap.
/// </summary>
[Collection(LoopbackProcesses.Name)]
public sealed partial class FailoverTests(ITestOutputHelper output)
{
    private static readonly string[] Prompts =
    [
        "In the beginning God created", "And the LORD spake unto Moses, saying", "Blessed is the man that walketh",
        "The LORD is my shepherd", "And it came to pass in those days", "Thus saith the LORD of hosts",
        "Now the serpent was more subtil", "And Jesus answering said unto them",
    ];

    // Long enough that the fault lands mid-way even when the test's own continuation runs late: with 64, a quiet CI
    // machine once finished all eight streams before the signal went out.
    private const int MaxNewTokens = 160;
    private const int TokensBeforeFault = 4;
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public Task EveryStreamCompletesWithTheUndisturbedTokensWhenTheSiloOfAStageIsKilled() => RunAsync("KILL", portOffset: 20);

    [Fact]
    public Task EveryStreamCompletesWithTheUndisturbedTokensWhenTheSiloOfAStageIsStoppedGracefully() => RunAsync("TERM", portOffset: 30);

    /// <summary>With Orleans' distributed grain directory (see the silo's StageGrainDirectory) the surviving stages are not deactivated.</summary>
    [Fact]
    public Task EveryStreamCompletesWithTheUndisturbedTokensWhenTheSiloOfAStageIsKilledUnderTheDistributedGrainDirectory() =>
        RunAsync("KILL", portOffset: 40, siloArgs: "--Cluster:DistributedGrainDirectory=true", survivorsKeepTheirStages: true);

    [Fact]
    public Task EveryStreamCompletesWithTheUndisturbedTokensWhenTheSiloOfAStageIsStoppedGracefullyUnderTheDistributedGrainDirectory() =>
        RunAsync("TERM", portOffset: 50, siloArgs: "--Cluster:DistributedGrainDirectory=true", survivorsKeepTheirStages: true);

    private async Task RunAsync(string signal, int portOffset, string siloArgs = "", bool survivorsKeepTheirStages = false)
    {
        await using var cluster = await LoopbackCluster.StartAsync(portOffset, silos: 3, siloArgs);
        using var channel = GrpcChannel.ForAddress(cluster.GatewayAddress);
        var client = new Generation.GenerationClient(channel);
        var before = await StageSilosAsync(client, cluster);
        Assert.True(before.Distinct().Count() == 3, $"Expected each of the 3 stages on its own silo; they are on silos [{string.Join(", ", before)}]. Logs in {cluster.Logs}.");
        var victim = before[1]; // the middle stage: a stall anywhere in the pipeline, with both neighbours staying up

        var baseline = ConcurrentGenerations.Start(channel, Prompts, MaxNewTokens);
        await CompleteAsync(baseline, cluster, "the undisturbed run");

        var run = ConcurrentGenerations.Start(channel, Prompts, MaxNewTokens, TokensBeforeFault);
        await run.EveryStreamStarted.WaitAsync(RunTimeout);
        var tokensAtFault = run.Streams.Select(s => s.Ids.Count).ToList();
        var fault = Stopwatch.GetTimestamp();
        var faultClock = DateTime.Now; // the logs' timestamps are local time
        var readiness = await cluster.WatchReadinessAsync(victim, TimeSpan.FromSeconds(60));
        cluster.Signal(victim, signal);
        var exited = cluster.WaitForSiloExitAsync(victim, TimeSpan.FromSeconds(60));
        await CompleteAsync(run, cluster, $"the run with SIG{signal} of silo {victim}");
        var exit = Stopwatch.GetElapsedTime(fault, await exited);

        Assert.True(tokensAtFault.All(n => n < MaxNewTokens),
            $"The fault did not land mid-way: streams had [{string.Join(", ", tokensAtFault)}] of {MaxNewTokens} tokens when silo {victim} got SIG{signal}.");
        for (var i = 0; i < Prompts.Length; i++)
        {
            var expected = baseline.Streams[i].Ids;
            var got = run.Streams[i].Ids;
            Assert.True(expected.SequenceEqual(got) && run.Streams[i].FinishReason == FinishReason.Length,
                $"Stream {i} (\"{Prompts[i]}\") after SIG{signal}: finish {run.Streams[i].FinishReason}, first difference at token {FirstDifference(expected, got)}; " +
                $"undisturbed [{string.Join(",", expected)}], got [{string.Join(",", got)}].");
        }
        var after = await StageSilosAsync(client, cluster);
        Assert.True(after[1] != victim, $"Stage 1 is still reported on silo {victim} after SIG{signal}; stages are on silos [{string.Join(", ", after)}].");
        var redone = DirectoryFailureDeactivations(cluster);
        if (survivorsKeepTheirStages)
        {
            Assert.True(redone.Count == 0, $"Surviving stages were deactivated with the silo that held their directory registration:\n{string.Join("\n", redone)}");
        }

        var recovered = run.RecoveredAfter(fault);
        var report =
            $"SIG{signal} of silo {victim} (stage 1) at {faultClock:HH:mm:ss.fff} with {Prompts.Length} streams at [{string.Join(", ", tokensAtFault)}] of {MaxNewTokens} tokens: " +
            $"fault → first token after the stall: earliest stream {Ms(recovered.Min())}, slowest stream {Ms(recovered.Max())}; " +
            $"largest inter-token gap {Ms(run.LargestInterTokenGap())} (undisturbed run: {Ms(baseline.LargestInterTokenGap())}); " +
            $"stage 1 moved to silo {after[1]}; surviving stages deactivated with it: {redone.Count}{(siloArgs.Length > 0 ? $" ({siloArgs})" : "")}; the silo process was gone {Ms(exit)} after the signal; its /ready answered [{string.Join(" → ", await readiness)}].";
        output.WriteLine(report);
        File.AppendAllText(Path.Combine(cluster.Logs, "recovery.txt"), report + Environment.NewLine);
        Console.WriteLine($"[failover] {report}");
    }

    private static async Task CompleteAsync(ConcurrentGenerations run, LoopbackCluster cluster, string what)
    {
        try
        {
            await run.Completion.WaitAsync(RunTimeout);
        }
        catch (RpcException failed)
        {
            Assert.Fail($"A stream of {what} failed with {failed.StatusCode}: {failed.Status.Detail}. Streams had [{string.Join(", ", run.Streams.Select(s => s.Ids.Count))}] tokens. Logs in {cluster.Logs}.\n{cluster.LogSummary()}");
        }
        catch (TimeoutException)
        {
            Assert.Fail($"The streams of {what} did not complete within {RunTimeout.TotalSeconds} s; they had [{string.Join(", ", run.Streams.Select(s => s.Ids.Count))}] tokens. Logs in {cluster.Logs}.\n{cluster.LogSummary()}");
        }
    }

    /// <summary>Which silo (its index in the cluster) holds each stage of replica 0, from ListModels.</summary>
    internal static async Task<List<int>> StageSilosAsync(Generation.GenerationClient client, LoopbackCluster cluster)
    {
        var models = await client.ListModelsAsync(new ListModelsRequest(), deadline: DateTime.UtcNow.AddSeconds(30));
        return models.Models[0].Replicas[0].Stages.OrderBy(s => s.Stage).Select(s =>
        {
            var match = SiloPort().Match(s.Silo);
            Assert.True(match.Success, $"Stage {s.Stage}'s silo \"{s.Silo}\" is not an Orleans silo address (S<ip>:<port>:<generation>).");
            return int.Parse(match.Groups[1].Value) - cluster.SiloPortBase;
        }).ToList();
    }

    // Log lines of stages deactivated because the silo holding their directory registration went (see StageGrain).
    private static List<string> DirectoryFailureDeactivations(LoopbackCluster cluster) =>
        Enumerable.Range(0, cluster.Silos).SelectMany(i => File.ReadLines(Path.Combine(cluster.Logs, $"silo-{i}.log")))
            .Where(line => line.Contains("deactivating (DirectoryFailure", StringComparison.Ordinal)).ToList();

    private static int FirstDifference(List<int> a, List<int> b) =>
        Enumerable.Range(0, Math.Min(a.Count, b.Count)).FirstOrDefault(i => a[i] != b[i], Math.Min(a.Count, b.Count));

    private static string Ms(TimeSpan? time) => time is { } t ? $"{t.TotalMilliseconds:F0} ms" : "none";

    [GeneratedRegex(@"^S[\d.]+:(\d+):\d+$")]
    private static partial Regex SiloPort();
}
