using Cluster.Gateway.Admission;
using Cluster.Gateway.Auth;
using Grpc.Core;

namespace Cluster.Gateway.Tests.Auth;

/// <summary>One key's limits on their own: refusals are RESOURCE_EXHAUSTED, with a retry hint when waiting can help.</summary>
public sealed class TenantLimitsTests
{
    [Fact]
    public void AStreamSlotIsRefusedWithAHintWhileAllAreHeldAndComesBackWhenOneIsReleased()
    {
        using var limits = new TenantLimits("team", maxConcurrentStreams: 2, tokensPerMinute: 0);
        var first = limits.OpenStream();
        using var second = limits.OpenStream();

        var refused = Assert.Throws<RpcException>(() => limits.OpenStream());
        Assert.True(refused.StatusCode == StatusCode.ResourceExhausted && refused.Status.Detail.Contains("2 Generate streams open", StringComparison.Ordinal),
            $"Third stream of two allowed: {refused.StatusCode}: {refused.Status.Detail}");
        Assert.Equal(TenantLimits.StreamRetryAfter, Overloaded.RetryAfter(refused));

        first.Dispose();
        using var third = limits.OpenStream();
    }

    [Fact]
    public void TokensAreChargedUntilTheMinutesBudgetIsSpentAndARequestLargerThanTheBudgetGetsNoHint()
    {
        using var limits = new TenantLimits("team", maxConcurrentStreams: 0, tokensPerMinute: 100);
        limits.ChargeTokens(60);
        limits.ChargeTokens(40);

        var spent = Assert.Throws<RpcException>(() => limits.ChargeTokens(1));
        var hint = Overloaded.RetryAfter(spent);
        Assert.True(spent.StatusCode == StatusCode.ResourceExhausted && hint > TimeSpan.Zero && hint <= TimeSpan.FromMinutes(1),
            $"One token over the budget: {spent.StatusCode}: {spent.Status.Detail}, retry hint {hint?.ToString() ?? "none"}.");

        var never = Assert.Throws<RpcException>(() => limits.ChargeTokens(101));
        Assert.True(never.StatusCode == StatusCode.ResourceExhausted && Overloaded.RetryAfter(never) is null && never.Status.Detail.Contains("at most 100 per minute", StringComparison.Ordinal),
            $"A request larger than a minute's budget: {never.StatusCode}: {never.Status.Detail}, retry hint {Overloaded.RetryAfter(never)?.ToString() ?? "none"}.");
    }

    [Fact]
    public void ZeroMeansUnlimited()
    {
        using var limits = TenantLimits.Unlimited("team");
        var streams = Enumerable.Range(0, 1000).Select(_ => limits.OpenStream()).ToList();
        limits.ChargeTokens(int.MaxValue);
        streams.ForEach(s => s.Dispose());
    }
}
