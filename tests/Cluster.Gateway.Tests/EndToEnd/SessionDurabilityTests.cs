using Cluster.Contracts.Api;
using Cluster.Contracts.Sessions;
using Grpc.Core;
using Orleans.Core.Internal;
using Orleans.Runtime;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// A session lives in grain storage, not in its grain's activation: when the activation goes (its silo stopped, a
/// migration, a crash), the next turn continues the same conversation. Only a session left unused for its collection
/// age is forgotten.
/// </summary>
public sealed class SessionDurabilityTests
{
    [Fact]
    public async Task ASessionContinuesWithItsHistoryAfterItsGrainActivationIsGone()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest())).SessionId;
        var sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 6, IgnoreEos = true };
        var turn1 = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "Remember me", SessionId = session, Sampling = sampling });

        await cluster.Grains.GetGrain<ISessionGrain>(session).Cast<IGrainManagementExtension>().DeactivateOnIdle();

        var turn2 = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = " and go on", SessionId = session, Sampling = sampling });
        var history = reference.Tokenizer.Encode("Remember me").Concat(turn1.Tokens).Concat(reference.Tokenizer.Encode(" and go on", addBos: false)).ToList();
        var engine = reference.Generate(history, 6);
        Assert.True(engine.SequenceEqual(turn2.Tokens),
            $"After its activation was gone, turn 2 should continue the whole history: engine [{string.Join(",", engine)}], cluster [{string.Join(",", turn2.Tokens)}].");
        Assert.True(turn2.Last.Usage.CachedPromptTokens > 0, "The stages still held the session's caches; turn 2 should have used them.");
    }

    [Fact]
    public async Task ASessionCollectedAsIdleIsForgotten()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 1);
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest())).SessionId;
        await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "Soon gone", SessionId = session, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 2 } });

        // Collect every activation idle for any time at all: what an hour without use does to a session.
        await cluster.Grains.GetGrain<IManagementGrain>(0).ForceActivationCollection(TimeSpan.Zero);

        var continued = await Assert.ThrowsAsync<RpcException>(() => ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "more", SessionId = session }));
        Assert.True(continued.StatusCode == StatusCode.NotFound, $"A session collected as idle should be gone; got {continued.StatusCode}: {continued.Status.Detail}");
    }
}
