using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// The prefix cache through the real gateway and stage grains: a hit changes no token (greedy, seeded, across a stage
/// split), a prefix shared by concurrent requests is computed once (the stages' own token counts prove it), and with two
/// replicas requests sharing a prefix meet on one.
/// </summary>
public sealed class PrefixCacheTests
{
    private const string System = "You are a careful assistant for the X-200 pump. Answer briefly, cite the manual's section, " +
        "never guess a part number, and say so when the manual is silent.\n";
    private static readonly string[] Questions = ["How do I reset it?", "Why is it slow?", "What does E42 mean?", "Where is the fuse?",
        "Can I run it on 12 V?", "Is it waterproof?", "How loud is it?", "Who made it?"];

    private static int SharedBlockTokens(ReferenceEngine reference, string prompt, string other, int blockTokens = 16)
    {
        var a = reference.Tokenizer.Encode(prompt);
        var b = reference.Tokenizer.Encode(other);
        var common = a.Zip(b).TakeWhile(p => p.First == p.Second).Count();
        return Math.Min(common, a.Count - 1) / blockTokens * blockTokens;
    }

    [Theory]
    [InlineData(256)]
    [InlineData(8)] // the uncached rest of each prompt prefilled in chunks of 8 tokens
    public async Task ARequestThatHitsTheCacheGetsTheEnginesTokensGreedyAndSeeded(int maxBatchTokens)
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2,
            settings: new Dictionary<string, string?> { ["Gateway:Scheduler:MaxBatchTokens"] = maxBatchTokens.ToString() });
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        await ShardedGenerationTests.GenerateAsync(cluster, Request(System + Questions[0], temperature: 0));

        var greedyPrompt = System + Questions[1];
        var greedy = await ShardedGenerationTests.GenerateAsync(cluster, Request(greedyPrompt, temperature: 0));
        var seededPrompt = System + Questions[2];
        var seeded = await ShardedGenerationTests.GenerateAsync(cluster, Request(seededPrompt, temperature: 1.2f, seed: 77));

        var expectedHit = SharedBlockTokens(reference, greedyPrompt, System + Questions[0]);
        Assert.True(expectedHit >= 32, $"the test needs a shared prefix of whole blocks; the prompts share {expectedHit} tokens");
        Assert.True(greedy.Last.Usage.CachedPromptTokens == expectedHit && seeded.Last.Usage.CachedPromptTokens >= expectedHit,
            $"cached prompt tokens: greedy {greedy.Last.Usage.CachedPromptTokens}, seeded {seeded.Last.Usage.CachedPromptTokens}; expected {expectedHit}");
        var engineGreedy = reference.Generate(greedyPrompt, 10);
        var engineSeeded = reference.Generate(seededPrompt, 10, temperature: 1.2f, seed: 77, topK: 20, topP: 0.9f);
        Assert.True(engineGreedy.SequenceEqual(greedy.Tokens), $"greedy after a hit: engine [{string.Join(",", engineGreedy)}], cluster [{string.Join(",", greedy.Tokens)}]");
        Assert.True(engineSeeded.SequenceEqual(seeded.Tokens), $"seeded after a hit: engine [{string.Join(",", engineSeeded)}], cluster [{string.Join(",", seeded.Tokens)}]");
    }

    [Fact]
    public async Task APrefixSharedByEightConcurrentRequestsIsComputedOnceOnEveryStage()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var prompts = Questions.Select(q => System + q).ToList();
        var before = await cluster.StatusesAsync();

        var results = await Task.WhenAll(prompts.Select(p => ShardedGenerationTests.GenerateAsync(cluster, Request(p, temperature: 0))));
        var after = await cluster.WaitForStagesAsync(s => s.ActiveSessions == 0, "every request's release");

        var cached = results.Select(r => (int)r.Last.Usage.CachedPromptTokens).ToArray();
        var shared = SharedBlockTokens(reference, prompts[0], prompts[1]);
        Assert.True(cached.Count(c => c == 0) == 1 && cached.Count(c => c >= shared) == 7,
            $"cached prompt tokens [{string.Join(", ", cached)}]; expected one request to compute the shared {shared} tokens and seven to copy them");
        // What the stages computed is what the requests did not copy: each prompt's uncached part and each generated token but the last.
        var needed = results.Sum(r => (long)r.Last.Usage.PromptTokens - r.Last.Usage.CachedPromptTokens + r.Last.Usage.GeneratedTokens - 1);
        for (var s = 0; s < cluster.Stages; s++)
        {
            var computed = after[s].TokensComputed - before[s].TokensComputed;
            Assert.True(computed == needed, $"stage {s} computed {computed} tokens; the eight requests needed {needed} with the prefix computed once");
            Assert.True(after[s].PrefixHitTokens - before[s].PrefixHitTokens == cached.Sum(), $"stage {s} copied {after[s].PrefixHitTokens - before[s].PrefixHitTokens} positions; the responses report {cached.Sum()} cached");
        }
        for (var i = 0; i < prompts.Count; i++)
        {
            var solo = reference.Generate(prompts[i], 10);
            Assert.True(solo.SequenceEqual(results[i].Tokens), $"request {i}: solo [{string.Join(",", solo)}], concurrent with a shared prefix [{string.Join(",", results[i].Tokens)}]");
        }
    }

    [Fact]
    public async Task WithTwoReplicasRequestsSharingAPrefixGoToTheReplicaHoldingIt()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 1, settings: new Dictionary<string, string?> { ["Cluster:Models:0:Replicas"] = "2" });
        foreach (var question in Questions)
        {
            await ShardedGenerationTests.GenerateAsync(cluster, Request(System + question, temperature: 0));
        }

        var replicas = await Task.WhenAll(Enumerable.Range(0, 2).Select(r => cluster.Stage(0, r).GetStatus()));
        var used = replicas.Select(s => s.TokensComputed).ToArray();
        Assert.True(used.Count(t => t > 0) == 1, $"tokens computed per replica [{string.Join(", ", used)}]; requests sharing a prefix should all go to one replica");
        var hits = replicas.Sum(s => s.PrefixHitTokens);
        Assert.True(hits >= 7 * 32, $"the replica copied {hits} prefix positions over 7 requests that share at least 32");
    }

    [Fact]
    public async Task ListModelsShowsEachStagesPrefixCache()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        await ShardedGenerationTests.GenerateAsync(cluster, Request(System + Questions[0], temperature: 0));
        await ShardedGenerationTests.GenerateAsync(cluster, Request(System + Questions[1], temperature: 0));
        await cluster.WaitForStagesAsync(s => s.ActiveSessions == 0, "both requests' releases");

        var models = await cluster.Client.ListModelsAsync(new ListModelsRequest());

        var stages = models.Models.Single().Replicas.Single().Stages;
        Assert.All(stages, s => Assert.True(s.PrefixCacheEntries == 2 && s.PrefixCacheBytes > 0 && s.PrefixCacheHitTokens >= 32,
            $"stage {s.Stage}: {s.PrefixCacheEntries} prefix entries of {s.PrefixCacheBytes} bytes, {s.PrefixCacheHitTokens} hit tokens; expected the 2 finished requests retained and the second's hit"));
    }

    private static GenerateRequest Request(string prompt, float temperature, ulong? seed = null)
    {
        var sampling = new SamplingParameters { Temperature = temperature, MaxNewTokens = 10 };
        if (seed is { } s)
        {
            sampling.Seed = s;
            sampling.TopK = 20;
            sampling.TopP = 0.9f;
        }
        return new GenerateRequest { Text = prompt, Sampling = sampling };
    }
}
