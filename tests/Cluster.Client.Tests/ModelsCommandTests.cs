using Cluster.Contracts.Api;

namespace Cluster.Client.Tests;

public sealed class ModelsCommandTests
{
    [Fact]
    public void Table_lists_each_stage_with_layers_silo_and_kv_use()
    {
        var response = new ListModelsResponse
        {
            Models =
            {
                new ModelInfo
                {
                    Name = "tiny", Architecture = "llama", Layers = 4, ContextLength = 2048, VocabularySize = 32000, IsDefault = true, MaxNewTokensLimit = 4096,
                    Replicas =
                    {
                        new ReplicaInfo
                        {
                            Replica = 0,
                            Stages =
                            {
                                new StageInfo { Stage = 0, FirstLayer = 0, EndLayer = 2, Silo = "10.0.0.1:11111", Device = "cpu", Dtype = "float32", WeightDtype = "bfloat16", KvCacheDtype = "bfloat16", Sessions = 3, KvCacheBytes = 1 << 20, KvCacheBudgetBytes = 4 << 20 },
                                new StageInfo { Stage = 1, FirstLayer = 2, EndLayer = 4, Silo = "10.0.0.2:11111", Device = "cuda:0", Dtype = "bfloat16", Sessions = 3, KvCacheBytes = 0, KvCacheBudgetBytes = 1UL << 30 },
                            },
                        },
                    },
                },
            },
        };

        string[] lines = ModelsCommand.Format(response).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        string all = string.Join("\n", lines);
        Assert.True(lines.Length == 4, $"expected a model line, a header and two stage rows:\n{all}");
        Assert.True(lines[0].StartsWith("tiny (default): llama, 4 layers, context 2048", StringComparison.Ordinal), all);
        string[] Cells(string line) => line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(string.Join(" ", Cells(lines[1])).Contains("dtype weights KV dtype sessions"), all);
        Assert.True(lines[2].Contains("[0, 2)") && lines[2].Contains("10.0.0.1:11111") && string.Join(" ", Cells(lines[2])).Contains("cpu float32 bfloat16 bfloat16 3")
            && lines[2].Contains("1.0 MiB / 4.0 MiB (25.0%)"), all);
        Assert.True(lines[3].Contains("[2, 4)") && lines[3].Contains("cuda:0") && lines[3].Contains("0 B / 1.00 GiB (0.0%)"), all);
    }
}
