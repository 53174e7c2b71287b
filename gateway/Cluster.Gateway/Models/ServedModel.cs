using Cluster.Contracts.Stages;
using Cluster.Hosting;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Scheduling;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Models;

/// <summary>A model the gateway serves: its tokenizer, limits, and one scheduler per replica (each over that replica's stages).</summary>
internal sealed class ServedModel(
    ModelDeployment deployment,
    CheckpointTokenizer tokenizer,
    ModelLimits limits,
    IReadOnlyList<ServedReplica> replicas,
    ChatFormat? chat = null,
    int prefixAffinityMaxExtraLoad = 0) : IAsyncDisposable
{
    public string Name => Deployment.Name;
    public ModelDeployment Deployment { get; } = deployment;
    public CheckpointTokenizer Tokenizer { get; } = tokenizer;
    public ModelLimits Limits { get; } = limits;
    public IReadOnlyList<ServedReplica> Replicas { get; } = replicas;

    /// <summary>The checkpoint's chat template, when it ships one: what Generate's messages are rendered with.</summary>
    public ChatFormat? Chat { get; } = chat;

    /// <summary>The replica with the fewest waiting and running requests (new one-shot requests and sessions go there).</summary>
    public ServedReplica LeastLoadedReplica() => Replicas.MinBy(r => r.Scheduler.Load)!;

    /// <summary>Where a one-shot request with these tokens goes: <see cref="ReplicaRouting"/> over the replicas' prefix indexes and loads.</summary>
    public ServedReplica ReplicaFor(IReadOnlyList<int> tokens)
    {
        if (Replicas.Count == 1 || Replicas[0].Scheduler.Prefixes is not { } first)
        {
            return LeastLoadedReplica();
        }
        var loads = Replicas.Select(r => r.Scheduler.Load).ToArray();
        var cached = Replicas.Select(r => r.Scheduler.Prefixes!.CachedTokens(tokens)).ToArray();
        ulong? firstBlock = tokens.Count > first.BlockTokens ? first.ChainHashes(tokens.Take(first.BlockTokens).ToArray(), 1)[0] : null;
        return Replicas[ReplicaRouting.Choose(loads, cached, firstBlock, prefixAffinityMaxExtraLoad)];
    }

    public ServedReplica Replica(int index) =>
        index >= 0 && index < Replicas.Count ? Replicas[index] : throw new ArgumentOutOfRangeException(nameof(index), $"Model {Name} has replicas 0..{Replicas.Count - 1}; got {index}.");

    public async ValueTask DisposeAsync()
    {
        foreach (var replica in Replicas)
        {
            await replica.Scheduler.DisposeAsync();
        }
    }
}

/// <summary>One replica: its stages as they described themselves at startup, and the scheduler that drives them.</summary>
internal sealed record ServedReplica(int Index, IReadOnlyList<StageKey> StageKeys, IReadOnlyList<IStageGrain> Stages, IReadOnlyList<StageDescription> Descriptions, PipelineDriver Pipeline, ReplicaScheduler Scheduler);
