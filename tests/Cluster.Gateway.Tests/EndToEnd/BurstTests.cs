using Cluster.Contracts.Api;
using Cluster.Gateway.Admission;
using Cluster.Testing;
using Grpc.Core;
using Xunit.Abstractions;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// Overload, end to end: a burst several times what the stages' KV budget holds, fired at once at a small queue.
/// Every request either completes with the tokens it gets alone or is refused with RESOURCE_EXHAUSTED and a retry
/// hint; nothing else, nothing hangs; no stage's own cache accounting ever passes its budget; the server still
/// serves afterwards and every stage ends empty.
/// </summary>
public sealed class BurstTests(ITestOutputHelper output)
{
    private const int Stages = 2;
    private const int BlockTokens = 64;
    private const int BlocksPerStage = 4; // four one-block requests at once
    private const int BudgetMultiple = 6;
    private const uint MaxNewTokens = 24;
    private static readonly TimeSpan RetryAfter = TimeSpan.FromMilliseconds(250);

    [Fact]
    public async Task ABurstOfSixTimesTheKvBudgetEitherCompletesWithTheSoloTokensOrIsRefusedWithARetryHintWithinTheBudget()
    {
        var budget = BudgetBytes(TinyModelOptions.Llama);
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: Stages, settings: Settings(budget), metricsPort: true);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var prompts = Prompts(BlocksPerStage * BudgetMultiple);

        var outcomes = await Task.WhenAll(prompts.Select(p => Call.RunAsync(cluster.Client, p, MaxNewTokens)));

        await AssertOverloadHandledAsync(cluster, reference, outcomes, budget, "one gateway");
    }

    /// <summary>
    /// Two gateways share the stages, each counting the whole budget as its own: the stages refuse steps for lack of
    /// room, and the refused sequences wait for room (parked, retried) instead of failing.
    /// </summary>
    [Fact]
    public async Task TwoGatewaysBurstingAtStagesTheyShareCompleteOrRefuseWithARetryHintWithinTheBudget()
    {
        var budget = BudgetBytes(TinyModelOptions.Llama);
        var settings = Settings(budget);
        // Room comes back as the other gateway's sequences finish: tries enough (about 25 s) that waiting always wins here.
        settings["Gateway:Scheduler:StageRoomRetries"] = "100";
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: Stages, settings: settings, metricsPort: true);
        var second = await cluster.AddGatewayAsync();
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var prompts = Prompts(BlocksPerStage * BudgetMultiple);

        var outcomes = await Task.WhenAll(prompts.Select((p, i) => Call.RunAsync(i % 2 == 0 ? cluster.Client : second, p, MaxNewTokens)));

        await AssertOverloadHandledAsync(cluster, reference, outcomes, budget, "two gateways");
        var waits = await CounterAsync(cluster, "cluster_stage_room_waits_total", "");
        output.WriteLine($"two gateways: running sequences went back to wait for a stage's room {waits} times");
        Assert.True(waits > 0, $"Eight sequences admitted by two gateways at stages holding four should have made a stage refuse some for room; cluster_stage_room_waits_total is {waits}.");
        var refusedForRoom = outcomes.Where(o => o.Error?.Status.Detail.Contains("no KV-cache room") == true).ToList();
        Assert.True(refusedForRoom.Count == 0,
            $"Requests their gateway admitted should wait for a stage's room, not be refused: {string.Join("; ", refusedForRoom.Select(o => $"'{o.Prompt}': {o.Error!.Status.Detail}"))}");
    }

    private async Task AssertOverloadHandledAsync(ClusterUnderTest cluster, ReferenceEngine reference, Call[] outcomes, long budget, string setup)
    {
        var summary = Call.Summarize(outcomes);
        output.WriteLine($"{setup}: {summary}");
        var unexpected = outcomes.Where(o => o.Error is { StatusCode: not StatusCode.ResourceExhausted }).ToList();
        Assert.True(unexpected.Count == 0,
            $"{setup}: every request should complete or get RESOURCE_EXHAUSTED; {summary}. Others: {string.Join("; ", unexpected.Select(o => $"'{o.Prompt}': {o.Error!.StatusCode} {o.Error.Status.Detail}"))}");
        var refused = outcomes.Where(o => o.Error is not null).ToList();
        Assert.True(refused.Count > 0 && refused.Count < outcomes.Length,
            $"{setup}: a burst of {outcomes.Length} at a queue of {BlocksPerStage} running + 2 waiting should see some refused and some completed; {summary}.");
        var withoutHint = refused.Where(o => Overloaded.RetryAfter(o.Error!) != RetryAfter).ToList();
        Assert.True(withoutHint.Count == 0,
            $"{setup}: every refusal should carry the {RetryAfter.TotalMilliseconds} ms retry hint; {string.Join("; ", withoutHint.Select(o => $"'{o.Prompt}': {Overloaded.RetryAfter(o.Error!)} ({o.Error!.Status.Detail})"))}");

        foreach (var completed in outcomes.Where(o => o.Error is null))
        {
            var solo = reference.Generate(completed.Prompt, (int)MaxNewTokens, ignoreEos: true);
            Assert.True(solo.SequenceEqual(completed.Tokens) && completed.Last!.FinishReason == FinishReason.Length,
                $"{setup}: '{completed.Prompt}' in the burst ended {completed.Last!.FinishReason}: solo [{string.Join(",", solo)}], burst [{string.Join(",", completed.Tokens)}].");
        }

        // At least: the counter is process-wide, and other tests' gateways may refuse too.
        var counted = await CounterAsync(cluster, "cluster_requests_refused_total", "reason=\"queue_full\"");
        Assert.True(counted >= refused.Count, $"{setup}: cluster_requests_refused_total{{reason=\"queue_full\"}} is {counted}; {refused.Count} calls were refused.");

        var after = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "still serving?", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3 } });
        Assert.Equal(3, after.Tokens.Count);
        var statuses = await cluster.WaitForStagesAsync(s => s.HoldsOnlyPrefixCache, $"every stage to free the burst ({summary}) (holding nothing but retained prefixes)");
        output.WriteLine($"{setup}: stages' cache peaks {string.Join(", ", statuses.Select(s => s.KvPeakBytes))} bytes of a {budget}-byte budget each");
        for (var s = 0; s < Stages; s++)
        {
            Assert.True(statuses[s].KvPeakBytes > 0 && statuses[s].KvPeakBytes <= budget,
                $"{setup}: stage {s}'s caches peaked at {statuses[s].KvPeakBytes} bytes; its budget is {budget} ({summary}).");
        }
    }

    /// <summary>The sum of a counter's series for this test's model (and <paramref name="label"/>, e.g. reason="x") on the gateway's /metrics.</summary>
    private static async Task<double> CounterAsync(ClusterUnderTest cluster, string name, string label)
    {
        using var http = new HttpClient { BaseAddress = new Uri(cluster.MetricsAddress!) };
        var exposition = await http.GetStringAsync("/metrics");
        return exposition.Split('\n')
            .Where(line => line.StartsWith(name + "{", StringComparison.Ordinal) && line.Contains($"model=\"{ClusterUnderTest.ModelName}\"") && line.Contains(label))
            .Sum(line => double.Parse(line[(line.LastIndexOf('}') + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>One stage's budget: <see cref="BlocksPerStage"/> blocks of K and V for its half of the layers, in float32.</summary>
    private static long BudgetBytes(TinyModelOptions model) =>
        BlocksPerStage * BlockTokens * 2L * (model.LayerCount / Stages) * model.KeyValueHeadCount * (model.HiddenSize / model.HeadCount) * sizeof(float);

    private static Dictionary<string, string?> Settings(long budget) => new()
    {
        ["Cluster:Stages:KvBudgetBytes"] = budget.ToString(),
        ["Gateway:Scheduler:MaxRunningSequences"] = BlocksPerStage.ToString(),
        ["Gateway:Scheduler:MaxWaitingRequests"] = "2",
        ["Gateway:Scheduler:RetryAfter"] = RetryAfter.ToString(),
    };

    // Short, fixed prompts: with the new tokens each fits one cache block.
    private static List<string> Prompts(int count) => Enumerable.Range(0, count).Select(i => $"Burst {i}").ToList();

    /// <summary>What one call of the burst ended with: its tokens and last message, or its error.</summary>
    private sealed record Call(string Prompt, List<int> Tokens, GenerateResponse? Last, RpcException? Error, TimeSpan Elapsed)
    {
        /// <summary>Runs one greedy call to its end; bounded, so a hung call ends as CANCELLED and fails the test by name.</summary>
        public static async Task<Call> RunAsync(Generation.GenerationClient client, string prompt, uint maxNewTokens)
        {
            using var bound = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var tokens = new List<int>();
            GenerateResponse? last = null;
            try
            {
                using var call = client.Generate(new GenerateRequest { Text = prompt, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = maxNewTokens, IgnoreEos = true } },
                    cancellationToken: bound.Token);
                await foreach (var response in call.ResponseStream.ReadAllAsync(bound.Token))
                {
                    tokens.AddRange(response.TokenIds);
                    last = response;
                }
                return new Call(prompt, tokens, last, last is null ? new RpcException(new Status(StatusCode.Unknown, "The stream ended without a message.")) : null, clock.Elapsed);
            }
            catch (RpcException error)
            {
                return new Call(prompt, tokens, last, error, clock.Elapsed);
            }
        }

        /// <summary>Counts by outcome, and the slowest of each (for the record, not asserted).</summary>
        public static string Summarize(IReadOnlyCollection<Call> calls) =>
            $"{calls.Count(c => c.Error is null)} of {calls.Count} completed (slowest {Slowest(calls.Where(c => c.Error is null))} ms), " +
            string.Join(", ", calls.Where(c => c.Error is not null).GroupBy(c => c.Error!.StatusCode).Select(g => $"{g.Count()} {g.Key} (slowest {Slowest(g)} ms)"));

        private static string Slowest(IEnumerable<Call> calls) => calls.Select(c => c.Elapsed.TotalMilliseconds).DefaultIfEmpty().Max().ToString("F0");
    }
}
