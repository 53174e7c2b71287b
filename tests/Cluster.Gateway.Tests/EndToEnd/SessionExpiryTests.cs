using Cluster.Contracts.Api;
using Microsoft.Extensions.Time.Testing;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>An idle session's caches expire on every stage; its next turn replays the history invisibly and gives the same tokens.</summary>
public sealed class SessionExpiryTests
{
    private static readonly TimeSpan IdleExpiry = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task AfterTheStagesExpireAnIdleSessionTheNextTurnReplaysTheHistoryAndEqualsTheEngineOnTheWholeHistory()
    {
        var clock = new FakeTimeProvider();
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2, stageClock: clock, settings: new Dictionary<string, string?>
        {
            ["Cluster:Stages:IdleSessionExpiry"] = IdleExpiry.ToString(),
            ["Cluster:Stages:ExpiryCheckPeriod"] = "01:00:00", // the test expires sessions itself
        });
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest())).SessionId;
        var sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 8, IgnoreEos = true };

        var turn1 = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "Remember this conversation", SessionId = session, Sampling = sampling });
        await cluster.WaitForStagesAsync(s => s.IdleSessions == 1 && s.ActiveSessions == 0 && s.KvBytes > 0, "every stage to hold the session idle after its turn");

        // Not yet expired a minute before the expiry; expired on every stage after it.
        clock.Advance(IdleExpiry - TimeSpan.FromMinutes(1));
        for (var s = 0; s < cluster.Stages; s++)
        {
            var early = await cluster.Stage(s).ExpireIdleSessions();
            Assert.True(early == 0, $"Stage {s} expired {early} sessions {IdleExpiry - TimeSpan.FromMinutes(1)} after the turn, before the expiry of {IdleExpiry}.");
        }
        clock.Advance(TimeSpan.FromMinutes(2));
        for (var s = 0; s < cluster.Stages; s++)
        {
            var expired = await cluster.Stage(s).ExpireIdleSessions();
            Assert.True(expired == 1, $"Stage {s} expired {expired} sessions past the expiry of {IdleExpiry}; expected the idle session.");
        }
        var emptied = await cluster.StatusesAsync();
        Assert.True(emptied.All(s => s.Sessions == 0 && s.KvBytes == 0), $"After expiry: {ClusterUnderTest.Describe(emptied)}.");

        var before = await cluster.Stage(0).GetStatus();
        var turn2 = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = " and what came next?", SessionId = session, Sampling = sampling });
        var after = await cluster.Stage(0).GetStatus();

        var history1 = reference.Tokenizer.Encode("Remember this conversation").Concat(turn1.Tokens).ToList();
        var prompt2 = reference.Tokenizer.Encode(" and what came next?", addBos: false);
        var engine = reference.Generate(history1.Concat(prompt2).ToList(), 8, ignoreEos: true);
        Assert.True(engine.SequenceEqual(turn2.Tokens),
            $"After expiry: engine on the whole history [{string.Join(",", engine)}], cluster turn 2 [{string.Join(",", turn2.Tokens)}].");
        var computed = after.TokensComputed - before.TokensComputed;
        var expectedComputed = history1.Count + prompt2.Count + turn2.Tokens.Count - 1;
        Assert.True(computed == expectedComputed,
            $"Turn 2 after expiry should replay the {history1.Count} tokens of turn 1, then its {prompt2.Count} prompt tokens and {turn2.Tokens.Count - 1} decodes = {expectedComputed}; stage 0 computed {computed}.");
        Assert.True(turn2.Last.Usage.CachedPromptTokens == 0,
            $"Turn 2 after expiry reports {turn2.Last.Usage.CachedPromptTokens} cached prompt tokens; the stages held none (they were replayed).");
        Assert.Equal((uint)prompt2.Count, turn2.Last.Usage.PromptTokens);
        Assert.Equal(session, turn2.Last.SessionId);
        await cluster.WaitForStagesAsync(s => s.IdleSessions == 1 && s.ActiveSessions == 0, "every stage to hold the session idle again after the replayed turn");
    }
}
