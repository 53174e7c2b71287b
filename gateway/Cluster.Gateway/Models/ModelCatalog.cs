using Cluster.Contracts.Stages;
using Cluster.Gateway.Requests;
using Cluster.Hosting;
using Cluster.Gateway.Scheduling;
using Cluster.Tokenizers;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.Models;

/// <summary>
/// The models of <c>Cluster:Models</c>, brought up once at startup: tokenizer loaded, every stage of every replica
/// asked to describe itself (which activates it on its silo and loads its layers), a scheduler per replica.
/// Requests for a model that is still loading wait for it; readiness turns on when all are up.
/// </summary>
internal sealed class ModelCatalog(
    IGrainFactory grains,
    IOptions<GatewayOptions> options,
    IOptions<ClusterModelsOptions> models,
    IOptions<SchedulerOptions> schedulerOptions,
    SiloLossWatch siloLoss,
    ILoggerFactory loggers) : IHostedService, IAsyncDisposable
{
    private readonly Dictionary<string, Task<ServedModel>> _models = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();

    public IReadOnlyCollection<string> Names => _models.Keys;

    public string DefaultModel => string.IsNullOrEmpty(options.Value.DefaultModel) ? models.Value.Models.FirstOrDefault()?.Name ?? "" : options.Value.DefaultModel;

    public bool IsReady => _models.Values.All(m => m.IsCompletedSuccessfully);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        options.Value.Validate(models.Value);
        schedulerOptions.Value.Validate();
        foreach (var deployment in models.Value.Models)
        {
            _models[deployment.Name] = Task.Run(() => BringUpAsync(deployment));
        }
        return Task.CompletedTask;
    }

    /// <summary>The model by name (empty: the default), once it is up. NOT_FOUND for an unknown name.</summary>
    public async Task<ServedModel> GetAsync(string name, CancellationToken cancellation)
    {
        var resolved = string.IsNullOrEmpty(name) ? DefaultModel : name;
        if (!_models.TryGetValue(resolved, out var model))
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"Model '{name}' is not served here; models: {string.Join(", ", _models.Keys)}."));
        }
        try
        {
            return await model.WaitAsync(cancellation);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"Model '{resolved}' failed to load: {ex.Message}"));
        }
    }

    public async Task<IReadOnlyList<ServedModel>> AllAsync(CancellationToken cancellation)
    {
        var result = new List<ServedModel>();
        foreach (var name in _models.Keys)
        {
            result.Add(await GetAsync(name, cancellation));
        }
        return result;
    }

    private async Task<ServedModel> BringUpAsync(ModelDeployment deployment)
    {
        var logger = loggers.CreateLogger<ModelCatalog>();
        var tokenizer = CheckpointTokenizer.Load(deployment.Path);
        var chat = ChatFormat.Load(deployment.Path, tokenizer.NamedSpecialTokens); // before the stages load: a template we cannot render fails fast
        // The tokens that end a sequence: the tokenizer's, else the checkpoint config's. The stop rules and JSON mode
        // (through the limits) read the same list.
        IReadOnlyList<int> EosOf(StageDescription description) => tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds : description.EosTokenIds;
        var replicas = new List<ServedReplica>();
        for (var r = 0; r < deployment.Replicas; r++)
        {
            var keys = deployment.StageKeys(r).ToList();
            var stages = keys.Select(k => grains.GetGrain<IStageGrain>(k.ToString())).ToList();
            var descriptions = await DescribeAsync(deployment.Name, stages, logger);
            var pipeline = new PipelineDriver(stages, keys, () => siloLoss.NextLoss);
            var scheduler = new ReplicaScheduler(pipeline, new ReplicaCapacity(descriptions), schedulerOptions.Value,
                new TokenResponses(tokenizer, EosOf(descriptions[0]), descriptions.Select(d => d.Silo).ToList()), loggers.CreateLogger<ReplicaScheduler>());
            replicas.Add(new ServedReplica(r, keys, stages, descriptions, pipeline, scheduler));
            logger.LogInformation("Model {Model} replica {Replica}: {Stages}", deployment.Name, r,
                string.Join(", ", descriptions.Select(d => $"layers [{d.FirstLayer},{d.EndLayer}) on {d.Silo}")));
        }
        var description = replicas[0].Descriptions[0];
        var limits = new ModelLimits(description.ContextLength, description.VocabularySize,
            Math.Min(options.Value.MaxNewTokensLimit, description.ContextLength), EosTokenIds: EosOf(description));
        return new ServedModel(deployment, tokenizer, limits, replicas, chat, schedulerOptions.Value.PrefixAffinityMaxExtraLoad);
    }

    /// <summary>
    /// Asks every stage to describe itself, which activates it and loads its layers. Retried with backoff while the
    /// silos are still starting (or a stage's silo is being replaced): readiness stays off meanwhile, requests wait.
    /// </summary>
    private async Task<StageDescription[]> DescribeAsync(string model, List<IStageGrain> stages, ILogger logger)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await Task.WhenAll(stages.Select(s => s.Describe()));
            }
            catch (Exception ex) when (ex is not ArgumentException && !_stopping.IsCancellationRequested)
            {
                logger.LogWarning("Stages of {Model} not ready (attempt {Attempt}): {Reason}; retrying in {Delay}.", model, attempt, ex.Message, delay);
                await Task.Delay(delay, _stopping.Token);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(10).Ticks));
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Dispose();
        foreach (var model in _models.Values.Where(m => m.IsCompletedSuccessfully))
        {
            await (await model).DisposeAsync();
        }
    }
}
