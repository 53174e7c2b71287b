using Cluster.Contracts.Stages;
using Cluster.Silo.Tests.Support;

namespace Cluster.Silo.Tests.Stages;

/// <summary>How a deployment's layers are cut: one stage doing everything, an uneven LayerSplit, and an invalid one.</summary>
[Collection(TwoSiloCluster.Collection)]
public sealed class DeploymentTests(TwoSiloCluster cluster)
{
    [Fact]
    public async Task AOneStageDeploymentEmbedsRunsAllLayersAndSamples()
    {
        var prompt = Reference.Prompt(5, seed: 10);
        var expected = Reference.Generate(cluster.WholeModel, prompt, 6, Reference.Seeded("r", 3));
        var pipeline = cluster.Pipeline("llama-whole", 0, 1);

        var actual = await pipeline.Generate("whole", prompt, 6, Reference.Seeded("r", 3));
        await pipeline.Release("whole", CacheRelease.Free);

        Reference.AssertSameTokens(expected, actual, "one stage");
        var description = await pipeline.Stage(0).Describe();
        Assert.Equal((0, 4), (description.FirstLayer, description.EndLayer));
    }

    [Fact]
    public async Task AnUnevenLayerSplitIsHonouredAndGivesTheSameTokens()
    {
        var prompt = Reference.Prompt(5, seed: 11);
        var expected = Reference.Generate(cluster.WholeModel, prompt, 4, Reference.Greedy("r"));
        var pipeline = cluster.Pipeline("llama-split", 0, 2);

        var actual = await pipeline.Generate("split", prompt, 4, Reference.Greedy("r"));
        await pipeline.Release("split", CacheRelease.Free);

        Reference.AssertSameTokens(expected, actual, "layer split [1, 3]");
        var first = await pipeline.Stage(0).Describe();
        var second = await pipeline.Stage(1).Describe();
        Assert.Equal((0, 1, 1, 4), (first.FirstLayer, first.EndLayer, second.FirstLayer, second.EndLayer));
    }

    [Fact]
    public async Task ALayerSplitThatDoesNotSumToTheLayerCountFailsWithAClearMessage()
    {
        var pipeline = cluster.Pipeline("llama-badsplit", 0, 2);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => pipeline.Stage(0).Describe());

        Assert.Contains("sum to the checkpoint's 4 layers (sums to 2)", error.ToString());
    }
}
