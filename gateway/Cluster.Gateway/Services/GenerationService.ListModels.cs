using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.Gateway.Services;

internal sealed partial class GenerationService
{
    public override async Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context)
    {
        var response = new ListModelsResponse();
        foreach (var model in await catalog.AllAsync(context.CancellationToken))
        {
            var first = model.Replicas[0].Descriptions[0];
            var info = new ModelInfo
            {
                Name = model.Name,
                Architecture = first.Architecture,
                Layers = (uint)first.LayerCount,
                ContextLength = (uint)first.ContextLength,
                VocabularySize = (uint)first.VocabularySize,
                IsDefault = model.Name == catalog.DefaultModel,
                MaxNewTokensLimit = (uint)model.Limits.MaxNewTokensLimit,
                HasChatTemplate = model.Chat is not null,
            };
            foreach (var replica in model.Replicas)
            {
                var replicaInfo = new ReplicaInfo { Replica = (uint)replica.Index };
                var statuses = await Task.WhenAll(replica.Stages.Select(s => s.GetStatus()));
                for (var s = 0; s < replica.Stages.Count; s++)
                {
                    var description = replica.Descriptions[s];
                    replicaInfo.Stages.Add(new StageInfo
                    {
                        Stage = (uint)s,
                        FirstLayer = (uint)description.FirstLayer,
                        EndLayer = (uint)description.EndLayer,
                        Silo = statuses[s].Silo,
                        Device = description.Device,
                        Dtype = description.DType,
                        WeightDtype = description.WeightDType,
                        Sessions = (uint)statuses[s].Sessions,
                        KvCacheBytes = (ulong)statuses[s].KvBytes,
                        KvCacheBudgetBytes = (ulong)statuses[s].KvBudgetBytes,
                        PrefixCacheEntries = (uint)statuses[s].RetainedPrefixes,
                        PrefixCacheBytes = (ulong)statuses[s].RetainedPrefixBytes,
                        PrefixCacheHitTokens = (ulong)statuses[s].PrefixHitTokens,
                        KvCacheDtype = description.KvDType,
                        KvCacheBytesPerToken = (ulong)description.KvBytesPerToken,
                    });
                }
                info.Replicas.Add(replicaInfo);
            }
            response.Models.Add(info);
        }
        return response;
    }
}
