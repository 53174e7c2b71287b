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
        await pipeline.Release("greedy", keep: false);

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
        await pipeline.Release("seeded", keep: false);

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
        await pipeline.Release("seeded-min-p", keep: false);

        Reference.AssertSameTokens(expected, actual, $"seeded with min_p over {cluster.Stages} stages");
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
        await pipeline.Release("batch-a", keep: false);
        await pipeline.Release("batch-b", keep: false);

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
