using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>StopConditions.Validate() rejects each out-of-range setting like SamplingParameters does: wire name first, property as ParamName.</summary>
public class StopConditionsValidationTests
{
    public static TheoryData<string, StopConditions, string, string> InvalidSettings => new()
    {
        { "max_new_tokens = 0", new StopConditions { MaxNewTokens = 0 }, "max_new_tokens", nameof(StopConditions.MaxNewTokens) },
        { "negative max_new_tokens", new StopConditions { MaxNewTokens = -5 }, "max_new_tokens", nameof(StopConditions.MaxNewTokens) },
        { "negative stop id", new StopConditions { StopTokenIds = [3, -1] }, "stop_token_ids", nameof(StopConditions.StopTokenIds) },
        { "null stop ids", new StopConditions { StopTokenIds = null! }, "stop_token_ids", nameof(StopConditions.StopTokenIds) },
    };

    [Theory]
    [MemberData(nameof(InvalidSettings))]
    public void Validate_RejectsOutOfRangeSetting_WithMessageNamingTheField(
        string description, StopConditions stop, string wireName, string propertyName)
    {
        var error = Assert.Throws<ArgumentException>(stop.Validate);
        Assert.True(error.Message.StartsWith(wireName + " ", StringComparison.Ordinal),
            $"{description}: message should start with '{wireName}', was: {error.Message}");
        Assert.Equal(propertyName, error.ParamName);
    }

    [Fact]
    public void Validate_MessageStatesTheLimitAndTheValueReceived()
    {
        var error = Assert.Throws<ArgumentException>(new StopConditions { StopTokenIds = [3, -7] }.Validate);
        Assert.Contains(">= 0", error.Message);
        Assert.Contains("got -7", error.Message);
    }

    [Fact]
    public void Validate_AcceptsDefaultsAndBoundaryValues()
    {
        new StopConditions().Validate();
        new StopConditions { MaxNewTokens = 1, StopTokenIds = [0], IgnoreEos = true }.Validate();
    }
}
