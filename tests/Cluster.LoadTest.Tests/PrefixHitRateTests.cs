namespace Cluster.LoadTest.Tests;

public sealed class PrefixHitRateTests
{
    [Fact]
    public void The_hit_rate_is_cached_over_prompt_tokens_of_the_requests_that_completed()
    {
        RequestRecord[] records =
        [
            Records.Ok(0.01, 0.01, 4, promptTokens: 100) with { CachedPromptTokens = 64 },
            Records.Ok(0.01, 0.01, 4, promptTokens: 100) with { CachedPromptTokens = 16 },
            Records.Ok(0.01, 0.01, 4, promptTokens: 200),
            RequestRecord.Failed(0.5, "ResourceExhausted") with { CachedPromptTokens = 999 },
        ];

        var level = LevelResult.From("cluster", LoadLevel.AtConcurrency(2), 1.0, records);

        Assert.True(level.CachedPromptTokens == 80 && level.PromptTokens == 400 && Math.Abs(level.PrefixCacheHitRate - 0.2) < 1e-12,
            $"cached {level.CachedPromptTokens} of {level.PromptTokens} prompt tokens, hit rate {level.PrefixCacheHitRate}; expected 80 of 400, 0.2");
    }
}
