using Cluster.Contracts.Stages;
using Cluster.Silo.Tests.Support;

namespace Cluster.Silo.Tests.Stages;

/// <summary>
/// Sessions on the stages: a stage that lost a session says so and computes nothing, a replay rebuilds it with the
/// same tokens, releases and expiry free every stage, and the KV budget turns away what it cannot hold.
/// Each test uses a replica of its own so the stage counts it reads are its own.
/// </summary>
public abstract class SessionLifecycleTests(StageClusterFixture cluster)
{
    [Fact]
    public async Task AnUnknownSessionPastPositionZeroIsMissingAndNothingIsComputed()
    {
        var pipeline = cluster.Replica(1);
        var before = await pipeline.Stage(0).GetStatus();

        var (result, stage) = await pipeline.TryStep(new StageEntry("never-seen", 5, [1, 2], 16, Reference.Greedy("r")));

        Assert.Equal(0, stage);
        Assert.Equal(["never-seen"], result.MissingSessions);
        Assert.False(result.Computed);
        Assert.Null(result.Hidden);
        var after = await pipeline.Stage(0).GetStatus();
        Assert.True(after.TokensComputed == before.TokensComputed && after.Steps == before.Steps && after.Sessions == before.Sessions,
            $"stage 0 changed: {PipelineStatus(before)} → {PipelineStatus(after)}");
    }

    [Fact]
    public async Task ALastStageThatLostTheSessionAsksForAReplayWhichGivesTheUndisturbedTokens()
    {
        var prompt = Reference.Prompt(6, seed: 5);
        var sampling = Reference.Seeded("replay", seed: 11);
        var expected = Reference.Generate(cluster.WholeModel, prompt, 6, sampling);
        var pipeline = cluster.Replica(1);
        var generated = await pipeline.Generate("replayed", prompt, 4, sampling);
        Reference.AssertSameTokens(expected.Take(4).ToList(), generated, "before the loss");

        // The last stage loses the session (as if its silo restarted); the step after reaches it and is refused.
        await pipeline.Stage(pipeline.StageCount - 1).Release(["replayed"], CacheRelease.Free);
        var history = prompt.Concat(generated.Select(t => t.TokenId)).ToArray();
        var lastComputed = await pipeline.Stage(pipeline.StageCount - 1).GetStatus();
        var (refused, stage) = await pipeline.TryStep(new StageEntry("replayed", history.Length - 1, [history[^1]], 16, sampling with { DrawIndex = 4 }));
        Assert.Equal(pipeline.StageCount - 1, stage);
        Assert.Equal(["replayed"], refused.MissingSessions);
        Assert.Equal(lastComputed.TokensComputed, (await pipeline.Stage(stage).GetStatus()).TokensComputed);

        // Replay the whole history from position 0: every stage rewrites its cache, the sampler is rebuilt at draw 4.
        var replayed = await pipeline.Step(new StageEntry("replayed", 0, history, 16, sampling with { DrawIndex = 4 }));
        var next = await pipeline.Step(new StageEntry("replayed", history.Length, [replayed.Tokens[0].TokenId], 16, sampling with { DrawIndex = 5 }));
        await pipeline.Release("replayed", CacheRelease.Free);

        Reference.AssertSameTokens(expected.Skip(4).ToList(), [replayed.Tokens[0], next.Tokens[0]], "after the replay");
    }

    [Fact]
    public async Task ReleaseWithoutKeepFreesEveryStage()
    {
        var pipeline = cluster.Replica(2);
        await pipeline.Generate("released", Reference.Prompt(4, seed: 6), 3, Reference.Greedy("r"));
        var held = await pipeline.Statuses();
        Assert.True(held.All(s => s.ActiveSessions == 1 && s.KvBytes > 0), $"while generating: {StagePipeline.Describe(held)}");

        await pipeline.Release("released", CacheRelease.Free);

        var freed = await pipeline.Statuses();
        Assert.True(freed.All(s => s.Sessions == 0 && s.KvBytes == 0), $"after release: {StagePipeline.Describe(freed)}");
    }

    [Fact]
    public async Task KeptSessionsBecomeIdleAndExpireOnceTheClockPassesTheExpiry()
    {
        var pipeline = cluster.Replica(2);
        await pipeline.Generate("kept", Reference.Prompt(4, seed: 7), 2, Reference.Greedy("r"));
        await pipeline.Release("kept", CacheRelease.Park);
        var idle = await pipeline.Statuses();
        Assert.True(idle.All(s => s.IdleSessions == 1 && s.ActiveSessions == 0 && s.KvBytes > 0), $"after release(keep): {StagePipeline.Describe(idle)}");

        foreach (var stage in pipeline.Stages)
        {
            Assert.Equal(0, await stage.ExpireIdleSessions());
        }
        cluster.Clock.Advance(StageClusterFixture.IdleExpiry + TimeSpan.FromSeconds(1));
        foreach (var stage in pipeline.Stages)
        {
            Assert.Equal(1, await stage.ExpireIdleSessions());
        }

        var expired = await pipeline.Statuses();
        Assert.True(expired.All(s => s.Sessions == 0 && s.KvBytes == 0), $"after expiry: {StagePipeline.Describe(expired)}");
    }

    [Fact]
    public async Task ABatchThatCannotFitEvenAfterEvictionIsOverBudgetAndNothingIsComputed()
    {
        var pipeline = cluster.Replica(3);
        var description = await pipeline.Stage(0).Describe();
        var fullContextBytes = description.KvBytesPerToken * description.ContextLength;
        var count = (int)(description.KvBudgetBytes / fullContextBytes) + 1;
        var entries = Enumerable.Range(0, count)
            .Select(i => new StageEntry($"big-{i}", 0, [1, 2, 3], description.ContextLength, Reference.Greedy("r")))
            .ToArray();
        var before = await pipeline.Stage(0).GetStatus();

        var (result, stage) = await pipeline.TryStep(entries);

        Assert.Equal(0, stage);
        Assert.True(result.OverBudgetSessions.Count > 0, $"{count} sessions of {fullContextBytes} B in a budget of {description.KvBudgetBytes} B were admitted");
        Assert.Empty(result.MissingSessions);
        var after = await pipeline.Stage(0).GetStatus();
        Assert.True(after.TokensComputed == before.TokensComputed && after.Sessions == before.Sessions && after.KvBytes == before.KvBytes,
            $"stage 0 changed: {PipelineStatus(before)} → {PipelineStatus(after)}");

        // What fits still runs.
        var fits = await pipeline.Step(entries[..(count - 1)]);
        Assert.Equal(count - 1, fits.Tokens.Count);
        foreach (var entry in entries)
        {
            await pipeline.Release(entry.SessionId, CacheRelease.Free);
        }
    }

    private static string PipelineStatus(StageStatus s) => StagePipeline.Describe([s]);
}

[Collection(TwoSiloCluster.Collection)]
public sealed class TwoStageSessionLifecycleTests(TwoSiloCluster cluster) : SessionLifecycleTests(cluster);

[Collection(ThreeSiloCluster.Collection)]
public sealed class ThreeStageSessionLifecycleTests(ThreeSiloCluster cluster) : SessionLifecycleTests(cluster);
