using Cluster.Gateway.Scheduling;

namespace Cluster.Gateway.Tests.Scheduling;

public sealed class SchedulerOptionsTests
{
    [Theory]
    [InlineData(0, 65536, 8, "PrefixBlockTokens >= 1 (got 0)")]
    [InlineData(16, 0, 8, "PrefixIndexMaxBlocks >= 1 (got 0)")]
    [InlineData(16, 65536, -1, "PrefixAffinityMaxExtraLoad >= 0 (got -1)")]
    public void PrefixCacheSettingsOutOfRangeAreRefusedNamingTheSettingAndTheValue(int blockTokens, int maxBlocks, int extraLoad, string expected)
    {
        var options = new SchedulerOptions { PrefixBlockTokens = blockTokens, PrefixIndexMaxBlocks = maxBlocks, PrefixAffinityMaxExtraLoad = extraLoad };
        var error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void TheDefaultsAreValidAndTurnThePrefixCacheOn()
    {
        var options = new SchedulerOptions();
        options.Validate();
        Assert.True(options.PrefixCache && options.PrefixBlockTokens == 16, $"PrefixCache {options.PrefixCache}, PrefixBlockTokens {options.PrefixBlockTokens}");
    }
}
