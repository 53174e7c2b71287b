using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>A conversation's second turn reuses the stages' caches; deleting it frees them on every stage.</summary>
public sealed class SessionTests
{
    [Fact]
    public async Task SecondTurnIsServedFromCacheComputesOnlyNewTokensAndEqualsTheEngineOnTheWholeHistory()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest())).SessionId;
        var sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 8, IgnoreEos = true };

        var turn1 = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "Hello, how are you", SessionId = session, Sampling = sampling });
        var before = await cluster.Stage(0).GetStatus();
        var turn2 = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = " and the weather?", SessionId = session, Sampling = sampling });
        var after = await cluster.Stage(0).GetStatus();

        var history1 = reference.Tokenizer.Encode("Hello, how are you").Concat(turn1.Tokens).ToList();
        var prompt2 = reference.Tokenizer.Encode(" and the weather?", addBos: false);
        Assert.Equal((uint)(history1.Count - 1), turn2.Last.Usage.CachedPromptTokens); // the last sampled token was never fed
        Assert.Equal((uint)prompt2.Count, turn2.Last.Usage.PromptTokens);
        var computed = after.TokensComputed - before.TokensComputed;
        var expectedComputed = 1 + prompt2.Count + turn2.Tokens.Count - 1;
        Assert.True(computed == expectedComputed,
            $"Turn 2 should compute the last token of turn 1, its {prompt2.Count} prompt tokens and {turn2.Tokens.Count - 1} decodes = {expectedComputed}; stage 0 computed {computed}.");
        var engine = reference.Generate(history1.Concat(prompt2).ToList(), 8);
        Assert.True(engine.SequenceEqual(turn2.Tokens), $"engine on the whole history [{string.Join(",", engine)}], cluster turn 2 [{string.Join(",", turn2.Tokens)}].");
        Assert.Equal(session, turn2.Last.SessionId);
    }

    [Fact]
    public async Task DeletingASessionFreesItsCacheOnEveryStage()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 3, stages: 3);
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest())).SessionId;
        await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "Keep this", SessionId = session, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 4 } });
        for (var s = 0; s < 3; s++)
        {
            var held = await cluster.Stage(s).GetStatus();
            Assert.True(held.Sessions == 1 && held.KvBytes > 0, $"Stage {s} should hold the session between turns; holds {held.Sessions} sessions, {held.KvBytes} bytes.");
        }

        await cluster.Client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = session });

        for (var s = 0; s < 3; s++)
        {
            var freed = await cluster.Stage(s).GetStatus();
            Assert.True(freed.Sessions == 0 && freed.KvBytes == 0, $"Stage {s} after delete: {freed.Sessions} sessions, {freed.KvBytes} bytes.");
        }
        var again = await Assert.ThrowsAsync<RpcException>(() => cluster.Client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = session }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, again.StatusCode);
        var continued = await Assert.ThrowsAsync<RpcException>(() => ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "more", SessionId = session }));
        Assert.Equal(StatusCode.NotFound, continued.StatusCode);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task OneShotRequestsLeaveNothingBehindButTheirRetainedPrefixes(bool prefixCache)
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2,
            settings: new Dictionary<string, string?> { ["Gateway:Scheduler:PrefixCache"] = prefixCache.ToString() });
        await Task.WhenAll(Enumerable.Range(0, 4).Select(i =>
            ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = $"one shot {i}", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3 } })));

        // The gateway releases a finished request's caches right after its last message: retained (evictable, expiring)
        // as prefix-cache entries when the cache is on, freed when it is off.
        var expected = prefixCache ? 4 : 0;
        var statuses = await cluster.WaitForStagesAsync(s => s.ActiveSessions == 0 && s.IdleSessions == expected,
            $"every stage to hold {expected} idle sessions after 4 finished one-shot requests");
        Assert.All(statuses, s => Assert.True(s.RetainedPrefixes == expected && s.HoldsOnlyPrefixCache && (s.KvBytes > 0) == prefixCache,
            $"a stage holds {s.Sessions} sessions ({s.RetainedPrefixes} retained prefixes), {s.KvBytes} bytes; expected {expected} retained and nothing else"));
    }
}
