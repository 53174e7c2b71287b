using Cluster.Contracts.Api;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// A model's <c>Cluster:Models:i:WeightDType</c> reaches every one of its stages (over the silo's own
/// <c>Cluster:Stages:WeightDType</c>), ListModels shows it, and the stages generate with it.
/// </summary>
public sealed class PerModelWeightDTypeTests
{
    [Theory]
    [InlineData("bfloat16")]
    [InlineData("int8")]
    public async Task AModelSetToAReducedPrecisionLoadsItOnEveryStageAndGenerates(string weightDType)
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 2, settings: new Dictionary<string, string?>
        {
            ["Cluster:Models:0:WeightDType"] = weightDType,
            ["Cluster:Stages:WeightDType"] = "float32", // the silo's default, which the model's entry overrides
        });
        var model = Assert.Single((await cluster.Client.ListModelsAsync(new ListModelsRequest())).Models);
        var stages = Assert.Single(model.Replicas).Stages;
        Assert.True(stages.Count == 2 && stages.All(s => s.WeightDtype == weightDType && s.Dtype == "float32"),
            $"stages (dtype/weights): {string.Join(", ", stages.Select(s => $"{s.Dtype}/{s.WeightDtype}"))}");

        var (tokens, last) = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest
        {
            Text = "hello", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 6, IgnoreEos = true },
        });
        Assert.True(tokens.Count == 6 && last.FinishReason == FinishReason.Length, $"generated {tokens.Count} tokens, finish {last.FinishReason}");
    }

    [Fact]
    public async Task WithoutAModelSettingTheSilosWeightDTypeApplies()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 1);
        var stage = Assert.Single(Assert.Single(Assert.Single((await cluster.Client.ListModelsAsync(new ListModelsRequest())).Models).Replicas).Stages);
        Assert.True(stage.WeightDtype == stage.Dtype && stage.KvCacheDtype == stage.Dtype,
            $"dtype {stage.Dtype}, weights {stage.WeightDtype}, KV cache {stage.KvCacheDtype}: with auto, the weights and the cache follow the activations.");
    }
}
