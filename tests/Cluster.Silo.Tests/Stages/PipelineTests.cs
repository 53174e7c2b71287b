using Cluster.Contracts.Stages;
using Cluster.Silo.Tests.Support;

namespace Cluster.Silo.Tests.Stages;

/// <summary>
/// The model cut into stages on different silos generates exactly what the whole model generates in one process:
/// the same tokens, log-probabilities and alternatives, greedy and seeded. Run on two and on three silos.
/// </summary>
public abstract class PipelineTests(StageClusterFixture cluster)
{
    [Fact]
    public async Task GreedyGenerationEqualsTheWholeModel()
    {
        var prompt = Reference.Prompt(7, seed: 1);
        var expected = Reference.Generate(cluster.WholeModel, prompt, 10, Reference.Greedy("r"));
        var pipeline = cluster.Replica(0);

        var actual = await pipeline.Generate("greedy", prompt, 10, Reference.Greedy("r"));
        await pipeline.Release("greedy", CacheRelease.Free);

        Reference.AssertSameTokens(expected, actual, $"greedy over {cluster.Stages} stages");
    }

    [Fact]
    public async Task SeededSamplingEqualsTheWholeModel()
    {
        var prompt = Reference.Prompt(5, seed: 2);
        var sampling = Reference.Seeded("r", seed: 42);
        var expected = Reference.Generate(cluster.WholeModel, prompt, 12, sampling);
        var pipeline = cluster.Replica(0);

        var actual = await pipeline.Generate("seeded", prompt, 12, sampling);
        await pipeline.Release("seeded", CacheRelease.Free);

        Reference.AssertSameTokens(expected, actual, $"seeded over {cluster.Stages} stages");
    }

    [Fact]
    public async Task SeededMinPSamplingEqualsTheWholeModel()
    {
        var prompt = Reference.Prompt(5, seed: 5);
        var seeded = Reference.Seeded("r", seed: 43);
        var sampling = seeded with { Settings = seeded.Settings with { Temperature = 1.5f, MinP = 0.3f } };
        var expected = Reference.Generate(cluster.WholeModel, prompt, 12, sampling);
        var pipeline = cluster.Replica(0);

        var actual = await pipeline.Generate("seeded-min-p", prompt, 12, sampling);
        await pipeline.Release("seeded-min-p", CacheRelease.Free);

        Reference.AssertSameTokens(expected, actual, $"seeded with min_p over {cluster.Stages} stages");
    }

    [Fact]
    public async Task SeededPenaltiesAndLogitBiasEqualTheWholeModel()
    {
        // The presence and frequency penalties read the tokens this request generated, from the last stage's history.
        var prompt = Reference.Prompt(5, seed: 6);
        var seeded = Reference.Seeded("r", seed: 44);
        var settings = seeded.Settings with
        {
            Temperature = 1.3f, PresencePenalty = 0.9f, FrequencyPenalty = 1.7f,
            LogitBias = new Contracts.Sampling.LogitBias([5, 9], [-100f, 4f]),
        };
        var sampling = seeded with { Settings = settings };
        var expected = Reference.Generate(cluster.WholeModel, prompt, 12, sampling);
        var unpenalized = Reference.Generate(cluster.WholeModel, prompt, 12, seeded with { Settings = settings with { PresencePenalty = 0f, FrequencyPenalty = 0f, LogitBias = null } });
        var pipeline = cluster.Replica(0);

        var actual = await pipeline.Generate("seeded-penalties", prompt, 12, sampling);
        await pipeline.Release("seeded-penalties", CacheRelease.Free);

        Reference.AssertSameTokens(expected, actual, $"seeded with penalties and logit_bias over {cluster.Stages} stages");
        Assert.False(expected.Select(t => t.TokenId).SequenceEqual(unpenalized.Select(t => t.TokenId)),
            $"the penalties and bias left the 12 tokens [{string.Join(",", expected.Select(t => t.TokenId))}] unchanged; the test does not exercise them");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AFinishedRequestsPrefixIsCopiedNotComputedAndGivesTheWholeModelsTokens(bool seeded)
    {
        // The source finishes and is retained; the second request shares its first 20 prompt tokens.
        var shared = Reference.Prompt(20, seed: 8);
        var source = shared.Concat(Reference.Prompt(4, seed: 9)).ToArray();
        var prompt = shared.Concat(Reference.Prompt(5, seed: 10)).ToArray();
        var sampling = seeded ? Reference.Seeded("hit", seed: 44) : Reference.Greedy("hit");
        var expected = Reference.Generate(cluster.WholeModel, prompt, 8, sampling);
        var pipeline = cluster.Replica(0);
        var (from, to) = ($"prefix-source-{seeded}", $"prefix-hit-{seeded}");
        await pipeline.Generate(from, source, 3, Reference.Greedy("source"));
        await pipeline.Release(from, CacheRelease.Retain);
        var before = await pipeline.Statuses();

        var actual = await pipeline.Generate(to, prompt, 8, sampling, prefixFrom: from, prefixTokens: shared.Length);
        var after = await pipeline.Statuses();
        await pipeline.Release(to, CacheRelease.Free);
        await pipeline.Release(from, CacheRelease.Free);

        Reference.AssertSameTokens(expected, actual, $"{(seeded ? "seeded" : "greedy")} after a copied prefix over {cluster.Stages} stages");
        for (var s = 0; s < cluster.Stages; s++)
        {
            var computed = after[s].TokensComputed - before[s].TokensComputed;
            var copied = after[s].PrefixHitTokens - before[s].PrefixHitTokens;
            Assert.True(copied == shared.Length && computed == prompt.Length - shared.Length + 7,
                $"stage {s}: copied {copied} positions (expected {shared.Length}) and computed {computed} tokens (expected {prompt.Length - shared.Length + 7})");
            Assert.True(before[s].RetainedPrefixes >= 1, $"stage {s} held {before[s].RetainedPrefixes} retained prefixes after the source's release");
        }
    }

    [Fact]
    public async Task APrefixWhoseSourceIsGoneOrDifferentIsAnsweredMissingAndTheReplayFromZeroComputesIt()
    {
        var prompt = Reference.Prompt(24, seed: 12);
        var expected = Reference.Generate(cluster.WholeModel, prompt, 4, Reference.Greedy("r"));
        var pipeline = cluster.Replica(0);
        await pipeline.Generate("prefix-other", Reference.Prompt(24, seed: 13), 1, Reference.Greedy("o"));

        foreach (var source in new[] { "prefix-never-existed", "prefix-other" })
        {
            var entry = new StageEntry("prefix-miss", 16, prompt[16..], 28, Reference.Greedy("r"), new PrefixSource(source, prompt[..16]));
            var (result, stage) = await pipeline.TryStep(entry);
            Assert.True(stage == 0 && result.MissingSessions.SequenceEqual(["prefix-miss"]),
                $"source {source}: stage {stage} answered missing [{string.Join(", ", result.MissingSessions)}]; expected stage 0 to answer prefix-miss missing");
        }
        var actual = await pipeline.Generate("prefix-miss", prompt, 4, Reference.Greedy("r"));
        await pipeline.Release("prefix-miss", CacheRelease.Free);
        await pipeline.Release("prefix-other", CacheRelease.Free);

        Reference.AssertSameTokens(expected, actual, "replayed from position 0 after a missing prefix");
    }

    [Fact]
    public async Task TwoSessionsBatchedTogetherEachEqualTheirOwnRun()
    {
        var promptA = Reference.Prompt(6, seed: 3);
        var promptB = Reference.Prompt(3, seed: 4);
        var expectedA = Reference.Generate(cluster.WholeModel, promptA, 4, Reference.Greedy("a"));
        var expectedB = Reference.Generate(cluster.WholeModel, promptB, 4, Reference.Seeded("b", 7));
        var pipeline = cluster.Replica(0);

        var tokensA = new List<Contracts.Stages.SampledTokenResult>();
        var tokensB = new List<Contracts.Stages.SampledTokenResult>();
        (int[] Input, int Position) a = (promptA, 0), b = (promptB, 0);
        for (var step = 0; step < 4; step++)
        {
            var result = await pipeline.Step(
                new("batch-a", a.Position, a.Input, 16, Reference.Greedy("a") with { DrawIndex = step }),
                new("batch-b", b.Position, b.Input, 16, Reference.Seeded("b", 7) with { DrawIndex = step }));
            Assert.Equal(["batch-a", "batch-b"], result.Tokens.Select(t => t.SessionId));
            tokensA.Add(result.Tokens[0]);
            tokensB.Add(result.Tokens[1]);
            a = ([result.Tokens[0].TokenId], a.Position + a.Input.Length);
            b = ([result.Tokens[1].TokenId], b.Position + b.Input.Length);
        }
        await pipeline.Release("batch-a", CacheRelease.Free);
        await pipeline.Release("batch-b", CacheRelease.Free);

        Reference.AssertSameTokens(expectedA, tokensA, "session a batched with b");
        Reference.AssertSameTokens(expectedB, tokensB, "session b batched with a");
    }

    [Fact]
    public async Task TheStagesOfAReplicaRunOnDifferentSilosAndCoverTheModel()
    {
        var pipeline = cluster.Replica(0);
        var descriptions = new List<Contracts.Stages.StageDescription>();
        foreach (var stage in pipeline.Stages)
        {
            descriptions.Add(await stage.Describe());
        }
        var silos = descriptions.Select(d => d.Silo).ToArray();

        Assert.True(silos.Distinct().Count() == cluster.Stages, $"stages on silos [{string.Join(", ", silos)}]; expected {cluster.Stages} different silos");
        var known = cluster.Cluster.Silos.Select(s => s.SiloAddress.ToString()).ToHashSet();
        Assert.All(silos, s => Assert.Contains(s, known));
        Assert.Equal(0, descriptions[0].FirstLayer);
        Assert.Equal(descriptions[0].LayerCount, descriptions[^1].EndLayer);
        for (var i = 1; i < descriptions.Count; i++)
        {
            Assert.Equal(descriptions[i - 1].EndLayer, descriptions[i].FirstLayer);
        }
        var statusSilos = (await pipeline.Statuses()).Select(s => s.Silo);
        Assert.Equal(silos, statusSilos);
    }

    [Fact]
    public async Task StageSOfReplicaRGoesToSiloRTimesStagesPlusSModuloTheSiloCount()
    {
        var silos = cluster.Cluster.Silos.Select(s => s.SiloAddress).OrderBy(a => a).Select(a => a.ToString()).ToArray();
        for (var replica = 0; replica < 4; replica++)
        {
            var pipeline = cluster.Replica(replica);
            for (var stage = 0; stage < cluster.Stages; stage++)
            {
                var actual = (await pipeline.Stage(stage).Describe()).Silo;
                var expected = silos[(replica * cluster.Stages + stage) % silos.Length];
                Assert.True(expected == actual, $"replica {replica} stage {stage} on {actual}; expected {expected} of [{string.Join(", ", silos)}]");
            }
        }
    }
}

[Collection(TwoSiloCluster.Collection)]
public sealed class TwoStagePipelineTests(TwoSiloCluster cluster) : PipelineTests(cluster);

[Collection(ThreeSiloCluster.Collection)]
public sealed class ThreeStagePipelineTests(ThreeSiloCluster cluster) : PipelineTests(cluster);
