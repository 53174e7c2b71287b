using Cluster.Contracts.Stages;
using Cluster.Silo.Tests.Support;

namespace Cluster.Silo.Tests.Stages;

/// <summary>
/// A one-stage replica takes a step whose entries continue from its own last sample (<see cref="StageEntry.ContinuesSample"/>,
/// what the gateway sends while the step before is still computing): the tokens, log-probabilities and alternatives are
/// the whole model's, greedy and seeded; a continuation that has no sample to continue from is answered missing; a
/// stage that does not both embed and sample refuses one.
/// </summary>
[Collection(TwoSiloCluster.Collection)]
public sealed class ContinuationTests(TwoSiloCluster cluster)
{
    /// <summary>The prompt in one step, then one continuation per token, each sent without the token it continues from.</summary>
    private static async Task<List<SampledTokenResult>> GenerateByContinuations(StagePipeline pipeline, string session, int[] prompt, int count, SamplingRequest sampling)
    {
        var reserve = prompt.Length + count;
        var first = await pipeline.Step(new StageEntry(session, 0, prompt, reserve, sampling));
        var tokens = new List<SampledTokenResult> { first.Tokens.Single() };
        while (tokens.Count < count)
        {
            var next = await pipeline.Step(new StageEntry(session, prompt.Length + tokens.Count - 1, [], reserve,
                sampling with { DrawIndex = tokens.Count }, ContinuesSample: true));
            tokens.Add(next.Tokens.Single());
        }
        return tokens;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ContinuationsGiveTheWholeModelsTokens(bool seeded)
    {
        var prompt = Reference.Prompt(6, seed: 11);
        var sampling = seeded ? Reference.Seeded("r", seed: 7) : Reference.Greedy("r");
        var expected = Reference.Generate(cluster.WholeModel, prompt, 10, sampling);
        var pipeline = cluster.Pipeline("llama-whole", 1, 1);

        var actual = await GenerateByContinuations(pipeline, $"continued-{seeded}", prompt, 10, sampling);
        await pipeline.Release($"continued-{seeded}", CacheRelease.Free);

        Reference.AssertSameTokens(expected, actual, seeded ? "seeded by continuations" : "greedy by continuations");
    }

    [Fact]
    public async Task AContinuationWithoutASampleAtItsPositionIsAnsweredMissingAndTheSessionGoesOn()
    {
        var prompt = Reference.Prompt(5, seed: 12);
        var sampling = Reference.Greedy("r");
        var pipeline = cluster.Pipeline("llama-whole", 2, 1);
        var first = await pipeline.Step(new StageEntry("no-sample", 0, prompt, 16, sampling));

        // The sample is for position 5; a continuation at 6 has nothing to continue from (the step before it never ran).
        var (ahead, _) = await pipeline.TryStep(new StageEntry("no-sample", 6, [], 16, sampling with { DrawIndex = 2 }, ContinuesSample: true));
        var (unknown, _) = await pipeline.TryStep(new StageEntry("never-seen", 0, [], 16, sampling, ContinuesSample: true));
        var (right, _) = await pipeline.TryStep(new StageEntry("no-sample", 5, [], 16, sampling with { DrawIndex = 1 }, ContinuesSample: true));
        await pipeline.Release("no-sample", CacheRelease.Free);

        Assert.True(!ahead.Computed && ahead.MissingSessions.SequenceEqual(["no-sample"]),
            $"Expected the continuation at 6 answered missing; computed {ahead.Computed}, missing [{string.Join(",", ahead.MissingSessions)}].");
        Assert.True(!unknown.Computed && unknown.MissingSessions.SequenceEqual(["never-seen"]),
            $"Expected a continuation of an unknown session answered missing; missing [{string.Join(",", unknown.MissingSessions)}].");
        var expected = Reference.Generate(cluster.WholeModel, prompt, 2, sampling);
        Assert.True(right.Computed && right.Tokens.Single().TokenId == expected[1].TokenId,
            $"Expected the continuation at 5 to compute the whole model's second token {expected[1].TokenId}; got {(right.Computed ? right.Tokens.Single().TokenId : "nothing")} (first token {first.Tokens.Single().TokenId}).");
    }

    [Fact]
    public async Task AStageThatDoesNotBothEmbedAndSampleRefusesAContinuationNamingWhy()
    {
        var pipeline = cluster.Replica(2); // two stages
        var entry = new StageEntry("split-continuation", 4, [], 16, Reference.Greedy("r"), ContinuesSample: true);

        var first = await Assert.ThrowsAnyAsync<ArgumentException>(() => pipeline.Stage(0).Forward(new StageBatch(1, [entry], null)));
        var withToken = await Assert.ThrowsAnyAsync<ArgumentException>(() =>
            cluster.Pipeline("llama-whole", 3, 1).Stage(0).Forward(new StageBatch(1, [entry with { TokenIds = [5] }], null)));

        Assert.Contains("only a stage that both embeds and samples", first.Message);
        Assert.Contains("has no token ids, no cached prefix, and samples", withToken.Message);
    }

    [Fact]
    public async Task TheStageReportsItsDeviceIdleBeforeAStepOnlyWhenTheStepFollowsOneWithTheSameSequence()
    {
        var pipeline = cluster.Pipeline("llama-whole", 3, 1);
        var sampling = Reference.Greedy("r");
        var first = await pipeline.Step(new StageEntry("idle-a", 0, Reference.Prompt(4, seed: 13), 16, sampling));
        var next = await pipeline.Step(new StageEntry("idle-a", 4, [], 16, sampling with { DrawIndex = 1 }, ContinuesSample: true));
        var other = await pipeline.Step(new StageEntry("idle-b", 0, Reference.Prompt(4, seed: 14), 16, sampling));
        await pipeline.Release("idle-a", CacheRelease.Free);
        await pipeline.Release("idle-b", CacheRelease.Free);

        // The test's own round trip between the first two steps left the device idle for some time; the third step
        // continues no sequence of the step before it, so what came before it is not a hand-over.
        Assert.True(first.IdleSeconds == 0 && next.IdleSeconds > 0 && other.IdleSeconds == 0,
            $"Expected idle 0, > 0, 0; got {first.IdleSeconds}, {next.IdleSeconds}, {other.IdleSeconds}.");
    }
}
