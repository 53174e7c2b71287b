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
    [Theory]
    [InlineData("memory")]
    [InlineData("redis")] // the storage of a cluster on Redis membership: the session is read back from Redis
    public async Task ASessionContinuesWithItsHistoryAfterItsGrainActivationIsGone(string storage)
    {
        using var redis = storage == "redis" ? await RedisServer.StartAsync() : null;
        var settings = redis is null ? null : new Dictionary<string, string?> { ["Cluster:Redis"] = redis.ConnectionString };
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2, settings: settings);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest())).SessionId;
        var sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 6, IgnoreEos = true };
        var turn1 = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "Remember me", SessionId = session, Sampling = sampling });

        if (redis is not null)
        {
            using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
            var keys = connection.GetServer(redis.ConnectionString).Keys(pattern: "*").Select(k => k.ToString()).ToList();
            Assert.True(keys.Any(k => k.Contains(session)), $"Redis should hold session {session}; it holds [{string.Join(", ", keys)}].");
        }
        await cluster.Grains.GetGrain<ISessionGrain>(session).Cast<IGrainManagementExtension>().DeactivateOnIdle();

        var turn2 = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = " and go on", SessionId = session, Sampling = sampling });
        var history = reference.Tokenizer.Encode("Remember me").Concat(turn1.Tokens).Concat(reference.Tokenizer.Encode(" and go on", addBos: false)).ToList();
        var engine = reference.Generate(history, 6);
        Assert.True(engine.SequenceEqual(turn2.Tokens),
            $"After its activation was gone ({storage} storage), turn 2 should continue the whole history: engine [{string.Join(",", engine)}], cluster [{string.Join(",", turn2.Tokens)}].");
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
