using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>StopRule: EOS (unless ignored), explicit stop ids (always), the length limit, and which wins when both apply.</summary>
public class StopRuleTests
{
    private static readonly int[] Eos = [2, 7];

    [Theory]
    [InlineData(2)]
    [InlineData(7)]
    public void AnyEosToken_Stops(int eos) =>
        Assert.Equal(FinishReason.Stop, StopRule.Check(eos, 1, new StopConditions(), Eos));

    [Fact]
    public void OrdinaryToken_BelowTheLimit_KeepsGoing() =>
        Assert.Equal(FinishReason.None, StopRule.Check(5, 3, new StopConditions { MaxNewTokens = 4 }, Eos));

    [Fact]
    public void IgnoreEos_DoesNotStopOnEos() =>
        Assert.Equal(FinishReason.None, StopRule.Check(2, 1, new StopConditions { IgnoreEos = true }, Eos));

    [Fact]
    public void StopTokenId_Stops_EvenWhenEosIsIgnored()
    {
        var p = new StopConditions { StopTokenIds = [42], IgnoreEos = true };
        Assert.Equal(FinishReason.Stop, StopRule.Check(42, 1, p, Eos));
        Assert.Equal(FinishReason.None, StopRule.Check(41, 1, p, Eos));
    }

    [Fact]
    public void ReachingMaxNewTokens_IsLength_CountingTheTokenJustGenerated()
    {
        var p = new StopConditions { MaxNewTokens = 3 };
        Assert.Equal(FinishReason.None, StopRule.Check(5, 2, p, Eos));
        Assert.Equal(FinishReason.Length, StopRule.Check(5, 3, p, Eos));
    }

    [Fact]
    public void IgnoreEos_StillStopsAtTheLengthLimit() =>
        Assert.Equal(FinishReason.Length, StopRule.Check(2, 3, new StopConditions { MaxNewTokens = 3, IgnoreEos = true }, Eos));

    [Fact]
    public void StopTokenOnTheLastAllowedStep_IsStopNotLength() =>
        Assert.Equal(FinishReason.Stop, StopRule.Check(7, 3, new StopConditions { MaxNewTokens = 3 }, Eos));

    [Fact]
    public void GeneratedCountBelowOne_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => StopRule.Check(5, 0, new StopConditions(), Eos));
}
