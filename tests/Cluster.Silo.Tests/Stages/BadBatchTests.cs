using Cluster.Contracts.Stages;
using Cluster.Silo.Tests.Support;

namespace Cluster.Silo.Tests.Stages;

/// <summary>A bad batch reaches the caller as an ArgumentException that says what was wrong, and the stage keeps serving.</summary>
[Collection(TwoSiloCluster.Collection)]
public sealed class BadBatchTests(TwoSiloCluster cluster)
{
    [Fact]
    public async Task ATokenIdOutsideTheVocabularyIsRejectedAndTheStageServesTheNextBatch()
    {
        var pipeline = cluster.Replica(3);
        var before = await pipeline.Stage(0).GetStatus();

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() =>
            pipeline.Stage(0).Forward(new StageBatch(1, [new StageEntry("bad-token", 0, [5, 4096], 8, null)], null)));

        Assert.Contains("token id 4096, outside the vocabulary [0, 1024)", error.Message);
        var after = await pipeline.Stage(0).GetStatus();
        Assert.True(after.Sessions == before.Sessions && after.TokensComputed == before.TokensComputed, $"{StagePipeline.Describe([before])} → {StagePipeline.Describe([after])}");
        await AssertServesAValidBatch(pipeline);
    }

    [Fact]
    public async Task HiddenStatesOfTheWrongWidthAreRejectedAndTheStageServesTheNextBatch()
    {
        var pipeline = cluster.Replica(3);
        var stage0 = await pipeline.Stage(0).Forward(new StageBatch(1, [new StageEntry("bad-width", 0, [5, 6, 7], 8, null)], null));
        var good = stage0.Hidden!;
        var narrow = good with { Width = good.Width / 2, Data = good.Data[..(good.Data.Length / 2)] };

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() =>
            pipeline.Stage(1).Forward(new StageBatch(1, [new StageEntry("bad-width", 0, [5, 6, 7], 8, null)], narrow)));

        Assert.Contains($"[3, {good.Width / 2}] float32", error.Message);
        Assert.Contains($"needs [3, {good.Width}] float32", error.Message);
        await pipeline.Release("bad-width", CacheRelease.Free);
        await AssertServesAValidBatch(pipeline);
    }

    [Fact]
    public async Task HiddenStatesSentToStageZeroAndMissingOnLaterStagesAreRejected()
    {
        var pipeline = cluster.Replica(3);
        var hidden = new HiddenStates(new byte[3 * 64 * 4], 3, 64, "float32");
        var entry = new StageEntry("misrouted", 0, [5, 6, 7], 8, null);

        var toFirst = await Assert.ThrowsAnyAsync<ArgumentException>(() => pipeline.Stage(0).Forward(new StageBatch(1, [entry], hidden)));
        var toSecond = await Assert.ThrowsAnyAsync<ArgumentException>(() => pipeline.Stage(1).Forward(new StageBatch(1, [entry], null)));

        Assert.Contains("must not carry hidden states", toFirst.Message);
        Assert.Contains("needs the previous stage's hidden states", toSecond.Message);
    }

    [Fact]
    public async Task InvalidSamplingSettingsNameTheField()
    {
        var pipeline = cluster.Replica(3);
        var stage0 = await pipeline.Stage(0).Forward(new StageBatch(1, [new StageEntry("bad-sampling", 0, [5], 8, null)], null));
        var greedy = Reference.Greedy("r");
        var sampling = greedy with { Settings = greedy.Settings with { TopP = 0f } };

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() =>
            pipeline.Stage(1).Forward(new StageBatch(1, [new StageEntry("bad-sampling", 0, [5], 8, sampling)], stage0.Hidden)));

        Assert.Contains("session 'bad-sampling'", error.Message);
        Assert.Contains("top_p", error.Message);
        await pipeline.Release("bad-sampling", CacheRelease.Free);
    }

    [Theory]
    [InlineData(new[] { 5, 1024 }, "got 1024 at index 1")]  // beyond the vocabulary [0, 1024)
    [InlineData(new[] { 9, 5 }, "got 5 at index 1")]        // not ascending: the gateway sends them sorted
    [InlineData(new int[0], "at least one")]
    public async Task AMalformedLogitBiasIsRejectedAndTheStageServesTheNextBatch(int[] ids, string expected)
    {
        var pipeline = cluster.Replica(3);
        var stage0 = await pipeline.Stage(0).Forward(new StageBatch(1, [new StageEntry("bad-bias", 0, [5], 8, null)], null));
        var greedy = Reference.Greedy("r");
        var sampling = greedy with { Settings = greedy.Settings with { LogitBias = new Contracts.Sampling.LogitBias(ids, [.. ids.Select(_ => 1f)]) } };

        var error = await Assert.ThrowsAnyAsync<ArgumentException>(() =>
            pipeline.Stage(1).Forward(new StageBatch(1, [new StageEntry("bad-bias", 0, [5], 8, sampling)], stage0.Hidden)));

        Assert.Contains("logit_bias", error.Message);
        Assert.Contains(expected, error.Message);
        await pipeline.Release("bad-bias", CacheRelease.Free);
        await AssertServesAValidBatch(pipeline);
    }

    private async Task AssertServesAValidBatch(StagePipeline pipeline)
    {
        var prompt = Reference.Prompt(4, seed: 9);
        var expected = Reference.Generate(cluster.WholeModel, prompt, 2, Reference.Greedy("r"));
        var actual = await pipeline.Generate("after-error", prompt, 2, Reference.Greedy("r"));
        await pipeline.Release("after-error", CacheRelease.Free);
        Reference.AssertSameTokens(expected, actual, "the batch after the rejected one");
    }
}
