using Cluster.Contracts.Stages;
using Cluster.Gateway.Scheduling;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>
/// The scheduler's side of the prefix cache over fake stages: what is looked up, copied, waited for, recorded,
/// retained and forgotten, proven by the tokens the stages were asked to compute.
/// </summary>
public sealed class PrefixCacheTests
{
    private static List<int> Prompt(int shared, int own, int seed) =>
        [.. Enumerable.Range(0, shared).Select(i => 10 + i % 90), .. Enumerable.Range(0, own).Select(i => 500 + seed * 10 + i)];

    private static int TokensComputed(FakeStage stage) => stage.Batches.Sum(b => b.Entries.Sum(e => e.TokenIds.Length));

    [Fact]
    public async Task APrefixSharedByEightConcurrentRequestsIsComputedOnce()
    {
        await using var harness = new SchedulerHarness(stageCount: 2);
        // 40 shared tokens: 2 whole blocks of 16 (32 tokens) can be shared; each request has 5 tokens of its own.
        var sequences = Enumerable.Range(0, 8).Select(i => harness.Submit(0, maxNewTokens: 3, prompt: Prompt(40, 5, i))).ToList();

        var responses = await Task.WhenAll(sequences.Select(SchedulerHarness.ReadAllAsync));

        var cached = responses.Select(r => (int)r[^1].Usage.CachedPromptTokens).ToArray();
        Assert.True(cached.Count(c => c == 0) == 1 && cached.Count(c => c == 32) == 7,
            $"cached prompt tokens per request: [{string.Join(", ", cached)}]; expected one request to compute the prefix and seven to copy its 32 tokens");
        // Each request computes its prompt (45) and 2 decode tokens; seven of them skip the 32 copied tokens.
        var expected = 8 * 47 - 7 * 32;
        Assert.All(harness.Stages, stage => Assert.True(TokensComputed(stage) == expected,
            $"a stage was asked to compute {TokensComputed(stage)} tokens; sharing the prefix, the 8 requests need {expected}"));
        Assert.All(harness.Stages, stage => Assert.Equal(7 * 32, stage.PrefixHitTokens));
        Assert.All(responses, r => Assert.Equal([.. Enumerable.Range(45, 3).Select(FakeStage.TokenAt)], SchedulerHarness.TokenIds(r)));
    }

    [Fact]
    public async Task AFinishedRequestIsRetainedOnTheStagesAndALaterRequestCopiesItsPromptAndOutput()
    {
        await using var harness = new SchedulerHarness(stageCount: 2);
        var first = harness.Submit(0, maxNewTokens: 20, prompt: Prompt(30, 0, 0));
        var firstTokens = SchedulerHarness.TokenIds(await SchedulerHarness.ReadAllAsync(first));
        await harness.WaitForAsync(() => harness.Stages.All(s => s.Releases.Any(r => r.Ids.Contains(first.StageSessionId) && r.Release == CacheRelease.Retain)),
            "every stage to be told to retain the finished request's cache");

        // A conversation resent in full: the first prompt, its answer, a new question. The cache holds 30 + 19 positions
        // (the last sampled token was never fed back), so 3 whole blocks (48 tokens) are shared.
        var second = harness.Submit(0, maxNewTokens: 2, prompt: [.. Prompt(30, 0, 0), .. firstTokens, 900, 901]);
        var responses = await SchedulerHarness.ReadAllAsync(second);

        Assert.Equal(48u, responses[^1].Usage.CachedPromptTokens);
        var entry = harness.Stages[0].Batches.SelectMany(b => b.Entries).First(e => e.SessionId == second.StageSessionId);
        Assert.True(entry.Prefix?.SessionId == first.StageSessionId && entry.StartPosition == 48,
            $"the second request's first entry starts at {entry.StartPosition} copying from '{entry.Prefix?.SessionId}'; expected 48 from '{first.StageSessionId}'");
    }

    [Fact]
    public async Task APrefixTheStagesNoLongerHoldIsReplayedFromZeroAndForgotten()
    {
        await using var harness = new SchedulerHarness(stageCount: 2);
        var first = harness.Submit(0, maxNewTokens: 2, prompt: Prompt(40, 1, 0));
        await SchedulerHarness.ReadAllAsync(first);
        await harness.WaitForAsync(() => harness.Stages.All(s => s.Releases.Any(r => r.Ids.Contains(first.StageSessionId))), "the first request's release");
        harness.Stages[1].Drop(first.StageSessionId); // evicted from the last stage only: stage 0 copies, stage 1 cannot

        var second = harness.Submit(0, maxNewTokens: 2, prompt: Prompt(40, 1, 1));
        var responses = await SchedulerHarness.ReadAllAsync(second);
        var third = harness.Submit(0, maxNewTokens: 2, prompt: Prompt(40, 1, 2));
        var thirdResponses = await SchedulerHarness.ReadAllAsync(third);

        Assert.Equal(0u, responses[^1].Usage.CachedPromptTokens);
        Assert.Equal([.. Enumerable.Range(41, 2).Select(FakeStage.TokenAt)], SchedulerHarness.TokenIds(responses));
        var secondEntries = harness.Stages[0].Batches.SelectMany(b => b.Entries).Where(e => e.SessionId == second.StageSessionId).ToList();
        Assert.True(secondEntries[0].Prefix is not null && secondEntries.Any(e => e.StartPosition == 0 && e.Prefix is null),
            "the second request should have tried the prefix, then replayed from position 0 without it");
        // The third finds the second's blocks (the first was forgotten) and copies them from the second.
        var thirdEntry = harness.Stages[0].Batches.SelectMany(b => b.Entries).First(e => e.SessionId == third.StageSessionId);
        Assert.True(thirdEntry.Prefix?.SessionId == second.StageSessionId && thirdResponses[^1].Usage.CachedPromptTokens == 32,
            $"the third request copied from '{thirdEntry.Prefix?.SessionId}' ({thirdResponses[^1].Usage.CachedPromptTokens} cached tokens); expected 32 from the second");
    }

    [Fact]
    public async Task WithThePrefixCacheOffNothingIsCopiedOrRetained()
    {
        await using var harness = new SchedulerHarness(stageCount: 2, new SchedulerOptions { PrefixCache = false });
        var first = harness.Submit(0, maxNewTokens: 2, prompt: Prompt(40, 1, 0));
        await SchedulerHarness.ReadAllAsync(first);
        var second = harness.Submit(0, maxNewTokens: 2, prompt: Prompt(40, 1, 1));
        var responses = await SchedulerHarness.ReadAllAsync(second);
        await harness.WaitForAsync(() => harness.Stages.All(s => s.Releases.Count(r => r.Release == CacheRelease.Free) == 2), "both requests to be freed on every stage");

        Assert.Equal(0u, responses[^1].Usage.CachedPromptTokens);
        Assert.DoesNotContain(harness.Stages[0].Batches.SelectMany(b => b.Entries), e => e.Prefix is not null);
    }
}
