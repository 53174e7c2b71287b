using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>Validate() rejects each out-of-range setting with a message that names the field (wire name) and its limit.</summary>
public class SamplingParametersValidationTests
{
    public static TheoryData<string, SamplingParameters, string, string> InvalidSettings => new()
    {
        { "negative temperature", new SamplingParameters { Temperature = -0.1f }, "temperature", nameof(SamplingParameters.Temperature) },
        { "NaN temperature", new SamplingParameters { Temperature = float.NaN }, "temperature", nameof(SamplingParameters.Temperature) },
        { "infinite temperature", new SamplingParameters { Temperature = float.PositiveInfinity }, "temperature", nameof(SamplingParameters.Temperature) },
        { "negative top_k", new SamplingParameters { TopK = -1 }, "top_k", nameof(SamplingParameters.TopK) },
        { "top_p = 0", new SamplingParameters { TopP = 0f }, "top_p", nameof(SamplingParameters.TopP) },
        { "top_p > 1", new SamplingParameters { TopP = 1.01f }, "top_p", nameof(SamplingParameters.TopP) },
        { "NaN top_p", new SamplingParameters { TopP = float.NaN }, "top_p", nameof(SamplingParameters.TopP) },
        { "negative min_p", new SamplingParameters { MinP = -0.01f }, "min_p", nameof(SamplingParameters.MinP) },
        { "min_p > 1", new SamplingParameters { MinP = 1.01f }, "min_p", nameof(SamplingParameters.MinP) },
        { "NaN min_p", new SamplingParameters { MinP = float.NaN }, "min_p", nameof(SamplingParameters.MinP) },
        { "repetition_penalty = 0", new SamplingParameters { RepetitionPenalty = 0f }, "repetition_penalty", nameof(SamplingParameters.RepetitionPenalty) },
        { "negative repetition_penalty", new SamplingParameters { RepetitionPenalty = -1f }, "repetition_penalty", nameof(SamplingParameters.RepetitionPenalty) },
        { "NaN repetition_penalty", new SamplingParameters { RepetitionPenalty = float.NaN }, "repetition_penalty", nameof(SamplingParameters.RepetitionPenalty) },
        { "presence_penalty > 2", new SamplingParameters { PresencePenalty = 2.01f }, "presence_penalty", nameof(SamplingParameters.PresencePenalty) },
        { "presence_penalty < -2", new SamplingParameters { PresencePenalty = -2.01f }, "presence_penalty", nameof(SamplingParameters.PresencePenalty) },
        { "NaN presence_penalty", new SamplingParameters { PresencePenalty = float.NaN }, "presence_penalty", nameof(SamplingParameters.PresencePenalty) },
        { "frequency_penalty > 2", new SamplingParameters { FrequencyPenalty = float.PositiveInfinity }, "frequency_penalty", nameof(SamplingParameters.FrequencyPenalty) },
        { "NaN frequency_penalty", new SamplingParameters { FrequencyPenalty = float.NaN }, "frequency_penalty", nameof(SamplingParameters.FrequencyPenalty) },
        { "negative logit_bias id", new SamplingParameters { LogitBias = new Dictionary<int, float> { [-1] = 1f } }, "logit_bias", nameof(SamplingParameters.LogitBias) },
        { "logit_bias > 100", new SamplingParameters { LogitBias = new Dictionary<int, float> { [3] = 100.5f } }, "logit_bias[3]", nameof(SamplingParameters.LogitBias) },
        { "NaN logit_bias", new SamplingParameters { LogitBias = new Dictionary<int, float> { [3] = float.NaN } }, "logit_bias[3]", nameof(SamplingParameters.LogitBias) },
        { "negative top_logprobs", new SamplingParameters { TopLogprobs = -1 }, "top_logprobs", nameof(SamplingParameters.TopLogprobs) },
        { "top_logprobs > 20", new SamplingParameters { TopLogprobs = 21 }, "top_logprobs", nameof(SamplingParameters.TopLogprobs) },
    };

    [Theory]
    [MemberData(nameof(InvalidSettings))]
    public void Validate_RejectsOutOfRangeSetting_WithMessageNamingTheField(
        string description, SamplingParameters parameters, string wireName, string propertyName)
    {
        var error = Assert.Throws<ArgumentException>(parameters.Validate);
        Assert.True(error.Message.StartsWith(wireName + " ", StringComparison.Ordinal),
            $"{description}: message should start with '{wireName}', was: {error.Message}");
        Assert.Equal(propertyName, error.ParamName);
    }

    [Fact]
    public void Validate_MessageStatesTheLimitAndTheValueReceived()
    {
        var error = Assert.Throws<ArgumentException>(new SamplingParameters { TopLogprobs = 21 }.Validate);
        Assert.Contains("[0, 20]", error.Message);
        Assert.Contains("got 21", error.Message);
    }

    [Fact]
    public void Validate_AcceptsDefaultsAndBoundaryValues()
    {
        new SamplingParameters().Validate();
        new SamplingParameters { Temperature = 0f, TopK = 0, TopP = 1f, TopLogprobs = 20 }.Validate();
        new SamplingParameters { TopP = float.Epsilon, RepetitionPenalty = 0.01f, TopLogprobs = 0 }.Validate();
        new SamplingParameters { MinP = 0f }.Validate();
        new SamplingParameters { MinP = 1f }.Validate();
        new SamplingParameters { PresencePenalty = -2f, FrequencyPenalty = 2f, LogitBias = new Dictionary<int, float> { [0] = -100f, [7] = 100f } }.Validate();
    }

    [Fact]
    public void TokenSampler_ValidatesItsParameters()
    {
        var error = Assert.Throws<ArgumentException>(() => new TokenSampler(new SamplingParameters { TopP = 2f }));
        Assert.Contains("top_p", error.Message);
    }
}
