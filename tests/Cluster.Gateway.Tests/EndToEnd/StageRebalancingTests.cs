using Cluster.Contracts.Api;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// Scale-out: stages placed while one silo was up move by themselves when a second joins, so the new silo takes a
/// stage without a restart, and generation through the moved stages gives the same tokens as before.
/// </summary>
public sealed class StageRebalancingTests
{
    [Fact]
    public async Task StagesOnOneSiloSpreadToASiloThatJoinsAndStillGiveTheSameTokens()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 2, settings: new Dictionary<string, string?>
        {
            ["Cluster:Stages:RebalanceCheckPeriod"] = "00:00:00.100",
        });
        var request = new GenerateRequest { Text = "The stages move", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 8, IgnoreEos = true } };
        var before = await ShardedGenerationTests.GenerateAsync(cluster, request);
        var alone = await cluster.StatusesAsync();
        Assert.True(alone.Select(s => s.Silo).Distinct().Count() == 1, $"With one silo both stages should be on it: {ClusterUnderTest.Describe(alone)}.");

        await cluster.AddSiloAsync();

        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var statuses = await cluster.StatusesAsync();
        while (statuses.Select(s => s.Silo).Distinct().Count() < 2)
        {
            if (limit.IsCancellationRequested)
            {
                Assert.Fail($"The stages did not spread over the two silos within 60 s: {string.Join(", ", statuses.Select((s, i) => $"stage {i} on {s.Silo}"))}.");
            }
            await Task.Delay(50);
            statuses = await cluster.StatusesAsync();
        }

        var after = await ShardedGenerationTests.GenerateAsync(cluster, request);
        Assert.True(before.Tokens.SequenceEqual(after.Tokens),
            $"Tokens changed after the stages moved: before [{string.Join(", ", before.Tokens)}], after [{string.Join(", ", after.Tokens)}].");
        // The answer's timings name where each stage ran for it, not where it was when the gateway started.
        var reported = after.Last.Timings.Stages.Select(t => t.Silo).ToList();
        var actual = (await cluster.StatusesAsync()).Select(s => s.Silo).ToList();
        Assert.True(reported.SequenceEqual(actual), $"Timings name the stages' silos [{string.Join(", ", reported)}]; they ran on [{string.Join(", ", actual)}].");
    }
}
