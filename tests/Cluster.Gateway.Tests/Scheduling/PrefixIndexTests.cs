using Cluster.Gateway.Scheduling;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>The gateway's index of cached prefixes: whole blocks only, the newest holder, forgetting, bounded size.</summary>
public sealed class PrefixIndexTests
{
    private static RunningSequence Computed(SchedulerHarness harness, IReadOnlyList<int> prompt, int computed)
    {
        var sequence = harness.Create(0, maxNewTokens: 1, prompt: prompt);
        sequence.ComputedLength = computed;
        return sequence;
    }

    private static List<int> Tokens(int count, int seed) => [.. Enumerable.Range(0, count).Select(i => seed * 1000 + i)];

    [Fact]
    public async Task OnlyWholeComputedBlocksAreFoundAndTheLastPromptTokenIsAlwaysLeftToCompute()
    {
        await using var harness = new SchedulerHarness(stageCount: 1);
        var index = new PrefixIndex(blockTokens: 16, maxBlocks: 1000);
        var source = Computed(harness, Tokens(40, 1), computed: 37);
        index.Record(source); // 37 computed positions: 2 whole blocks

        Assert.Equal(32, index.Match(Tokens(40, 1)).CachedTokens);
        Assert.Equal(source.StageSessionId, index.Match(Tokens(40, 1)).Source);
        Assert.Equal(16, index.Match(Tokens(32, 1)).CachedTokens); // 32 tokens: block 2 would leave nothing to compute
        Assert.Equal(16, index.Match([.. Tokens(20, 1), .. Tokens(20, 2)]).CachedTokens);
        Assert.Equal(0, index.Match(Tokens(40, 3)).CachedTokens);
    }

    [Fact]
    public async Task ForgettingASourceDropsItsBlocksAndTheIndexStaysWithinItsBound()
    {
        await using var harness = new SchedulerHarness(stageCount: 1);
        var index = new PrefixIndex(blockTokens: 16, maxBlocks: 4);
        var a = Computed(harness, Tokens(48, 1), 48);
        var b = Computed(harness, Tokens(48, 2), 48);
        index.Record(a);
        index.Record(b); // 6 blocks > 4: a, the longest unused, is forgotten

        Assert.True(index.CachedBlocks == 3 && index.Match(Tokens(49, 1)).CachedTokens == 0 && index.Match(Tokens(49, 2)).CachedTokens == 48,
            $"{index.CachedBlocks} blocks held; a's prefix matches {index.Match(Tokens(49, 1)).CachedTokens}, b's {index.Match(Tokens(49, 2)).CachedTokens}");
        index.Forget(b.StageSessionId);
        Assert.Equal(0, index.CachedBlocks);
    }

    [Fact]
    public async Task APrefixBeingComputedIsReportedAsPendingUntilRecorded()
    {
        await using var harness = new SchedulerHarness(stageCount: 1);
        var index = new PrefixIndex(blockTokens: 16, maxBlocks: 1000);
        var owner = Computed(harness, Tokens(40, 1), computed: 0);
        index.AddPending(owner, 0);

        var pending = index.Match(Tokens(50, 1));
        Assert.True(pending.PendingOwner == owner && pending.PendingTokens == 32 && pending.CachedTokens == 0,
            $"pending {pending.PendingTokens} tokens by {pending.PendingOwner?.StageSessionId}, cached {pending.CachedTokens}");

        owner.ComputedLength = 40;
        index.Record(owner);
        var cached = index.Match(Tokens(50, 1));
        Assert.True(cached.CachedTokens == 32 && cached.PendingOwner is null, $"after recording: cached {cached.CachedTokens}, pending owner {cached.PendingOwner?.StageSessionId}");
    }
}
