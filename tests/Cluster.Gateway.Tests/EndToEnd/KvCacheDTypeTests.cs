using System.Text.Json.Nodes;
using Cluster.Contracts.Api;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// <c>Cluster:Stages:KvCacheDType=bfloat16</c> reaches every stage: ListModels shows the cache's dtype and a position's
/// bytes at bf16's two bytes per element (so the budget holds twice the positions), and the stages generate with it.
/// </summary>
public sealed class KvCacheDTypeTests
{
    [Fact]
    public async Task A_bf16_cache_is_shown_with_its_bytes_per_position_on_every_stage_and_generates()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 2, settings: new Dictionary<string, string?>
        {
            ["Cluster:Stages:DType"] = "float32",
            ["Cluster:Stages:KvCacheDType"] = "bfloat16",
        });
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(cluster.CheckpointPath, "config.json")))!;
        var heads = (int)config["num_attention_heads"]!;
        var kvHeads = (int?)config["num_key_value_heads"] ?? heads;
        var headDim = (int?)config["head_dim"] ?? (int)config["hidden_size"]! / heads;
        var stages = Assert.Single(Assert.Single((await cluster.Client.ListModelsAsync(new ListModelsRequest())).Models).Replicas).Stages;
        foreach (var stage in stages)
        {
            var expected = 2UL * (stage.EndLayer - stage.FirstLayer) * (ulong)(kvHeads * headDim) * 2; // keys and values, 2 bytes each
            Assert.True(stage.KvCacheDtype == "bfloat16" && stage.Dtype == "float32" && stage.KvCacheBytesPerToken == expected,
                $"stage {stage.Stage}: cache {stage.KvCacheDtype}, activations {stage.Dtype}, {stage.KvCacheBytesPerToken} bytes a position (expected {expected})");
        }

        var (tokens, last) = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest
        {
            Text = "hello", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 6, IgnoreEos = true },
        });
        Assert.True(tokens.Count == 6 && last.FinishReason == FinishReason.Length, $"generated {tokens.Count} tokens, finish {last.FinishReason}");
    }
}
