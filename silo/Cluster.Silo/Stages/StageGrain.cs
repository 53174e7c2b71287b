using Cluster.Contracts.Stages;
using Cluster.Hosting;
using Cluster.Engine.Caching;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Kernels;
using System.Diagnostics;
using Cluster.Silo.Placement;
using Cluster.Silo.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Cluster.Silo.Stages;

/// <summary>
/// One pipeline stage of one model replica (see <see cref="IStageGrain"/>). Loads its layers on activation and stays
/// active (reloading weights is the expensive part). Compute runs off the grain scheduler, on the silo's one device
/// thread (<see cref="DeviceGate"/>), and so does everything that reads or changes the sessions (admission, release,
/// expiry, status): they need no locks and happen in the order the calls arrived, while <see cref="Forward"/> always
/// interleaves, so the next step is queued on the device while one computes.
/// </summary>
[StagePlacement]
[CollectionAgeLimit(AlwaysActive = true)]
public sealed partial class StageGrain(
    IOptions<ClusterModelsOptions> models,
    IOptions<StageOptions> options,
    DeviceGate gate,
    [FromKeyedServices(StageClock.Key)] TimeProvider clock,
    ILocalSiloDetails silo,
    ILogger<StageGrain> logger) : Grain, IStageGrain
{
    private StageKey _key = null!;
    private StageExecutor _executor = null!;
    private SessionCaches _sessions = null!;
    private StageGauge? _gauge;
    private string _layers = "";
    private long _tokensComputed;
    private long _steps;
    private string? _siloName;

    private ModelShard Shard => _executor.Shard;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _key = StageKey.Parse(this.GetPrimaryKeyString());
        var deployment = models.Value.Find(_key.Model)
            ?? throw new ArgumentException($"Stage {_key}: no model '{_key.Model}' in Cluster:Models (known: {string.Join(", ", models.Value.Models.Select(m => m.Name))}).");
        if (_key.Replica >= deployment.Replicas)
        {
            throw new ArgumentException($"Stage {_key}: model '{deployment.Name}' has {deployment.Replicas} replicas; there is no replica {_key.Replica}.");
        }
        var stageOptions = options.Value;
        var layerCount = ModelConfigReader.ReadFromDirectory(deployment.Path).LayerCount;
        var layers = StageLayers.For(deployment, _key.Stage, layerCount);
        // Off the grain scheduler: reading and converting weights takes seconds and must not stall the silo's threads.
        var shard = await Task.Run(() => ModelShard.Load(deployment.Path, layers, stageOptions.ToEngineOptions(deployment)), cancellationToken);
        _executor = new StageExecutor(shard, JsonTables.For(deployment.Path, shard.Config.VocabularySize));
        _sessions = new SessionCaches(stageOptions.KvBudgetBytes, BytesPerToken(shard), clock);
        _layers = layers.ToString();
        _gauge = SiloTelemetry.Register(_key.Model, _key.Replica, _key.Stage);
        this.RegisterGrainTimer(_ => ExpireIdleSessions(), new GrainTimerCreationOptions(stageOptions.ExpiryCheckPeriod, stageOptions.ExpiryCheckPeriod) { KeepAlive = false });
        StartRebalancing(stageOptions.RebalanceCheckPeriod);
        LogLoaded(logger, _key.ToString(), layers.ToString(), shard.Placement.Device.ToString(), shard.Placement.DType.ToString(), shard.Placement.WeightDTypeName);
        if (shard.Placement.Int8WeightsUnaccelerated)
        {
            // Right, but one product at a time: tens of times slower than bf16 weights on the same CPU.
            LogInt8WithoutVectors(logger, _key.ToString());
        }
        else if (shard.Placement.Int8WeightBlocks)
        {
            LogInt8Path(logger, _key.ToString(), Int8LinearKernel.DefaultPath.ToString());
        }
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        LogDeactivating(logger, _key?.ToString() ?? this.GetPrimaryKeyString(), reason.ReasonCode.ToString(), reason.Description ?? "", _sessions?.ActiveCount ?? 0);
        if (_gauge is not null)
        {
            SiloTelemetry.Unregister(_gauge);
        }
        // On the device thread, behind anything still queued there for this stage.
        try
        {
            return gate.RunAsync(() =>
            {
                FreeMemory();
                return true;
            });
        }
        catch (InvalidOperationException)
        {
            FreeMemory(); // the silo's device gate has shut down: nothing runs on the device any more
            return Task.CompletedTask;
        }
    }

    private void FreeMemory()
    {
        _sessions?.Dispose();
        _executor?.Shard.Dispose();
    }

    public Task<StageDescription> Describe()
    {
        var config = Shard.Config;
        return Task.FromResult(new StageDescription(
            _key, config.Architecture.ToString(), config.LayerCount, Shard.Layers.Start, Shard.Layers.End, config.ContextLength,
            config.VocabularySize, SiloName, Shard.Placement.Device.ToString(), HiddenStateBytes.DTypeName(Shard.Placement.DType),
            _sessions.BudgetBytes, _sessions.BytesPerToken, KvCache.BlockTokens, config.EosTokenIds.ToArray(),
            Shard.Placement.WeightDTypeName,
            config.HeadCount,
            HiddenStateBytes.DTypeName(Shard.Placement.KvDType)));
    }

    public async Task<StageResult> Forward(StageBatch batch)
    {
        // Under the gateway's step span: Orleans activity propagation makes it the parent across the grain call.
        using var span = SiloTelemetry.Source.StartActivity("stage.forward");
        if (span is { IsAllDataRequested: true })
        {
            TagForward(span, batch);
        }
        StageBatchValidator.Validate(batch, Shard);
        StageResult result;
        try
        {
            // The device thread does not inherit this flow's Activity.Current: hand it the span to parent the sampling span.
            var parent = span?.Context ?? default;
            result = await gate.RunAsync(() => Step(batch, parent));
        }
        catch (Exception error)
        {
            span?.SetStatus(ActivityStatusCode.Error, error.Message);
            throw;
        }
        if (!result.Computed)
        {
            span?.SetTag("refused.missing_sessions", result.MissingSessions.Count);
            span?.SetTag("refused.over_budget_sessions", result.OverBudgetSessions.Count);
        }
        else
        {
            SiloTelemetry.ForwardSeconds.Record(result.ComputeSeconds, _gauge!.Tags);
            span?.SetTag("compute_seconds", result.ComputeSeconds);
        }
        return result with { Silo = SiloName }; // where this step ran: stages move (failover, scale-out)
    }

    /// <summary>
    /// One step on the device thread: continuations get their tokens, the sessions are admitted (or the step refused,
    /// nothing changed), the layers run; a step that fails gives back what admission took.
    /// </summary>
    private StageResult Step(StageBatch batch, ActivityContext parent)
    {
        var (resolved, unresolved) = ContinuedEntries.Resolve(batch, _sessions);
        if (unresolved.Count > 0)
        {
            return new StageResult(null, [], unresolved, [], 0);
        }
        var admission = _sessions.Admit(resolved.Entries.Select(e => CacheRequest.For(e, Shard.Config.ContextLength)).ToArray());
        if (!admission.Admitted)
        {
            return new StageResult(null, [], admission.MissingSessions, admission.OverBudgetSessions, 0);
        }
        try
        {
            var result = _executor.Execute(resolved, admission.Sessions, parent, gate.IdleBefore);
            _tokensComputed += resolved.Entries.Sum(e => e.TokenIds.Length);
            _steps++;
            _sessions.NotePeak();
            ObserveKvUsage();
            return result;
        }
        catch (Exception error)
        {
            _sessions.NotePeak(); // what the step allocated before it failed counted too
            _sessions.Abandon(admission);
            LogStepFailed(logger, error, _key.ToString(), batch.StepId);
            throw;
        }
    }

    public async Task<EmbedResult> Embed(EmbedBatch batch)
    {
        using var span = SiloTelemetry.Source.StartActivity("stage.embed");
        span?.SetTag("stage", _key.ToString());
        span?.SetTag("inputs", batch.Inputs?.Length ?? 0);
        StageBatchValidator.Validate(batch, Shard);
        var result = await gate.RunAsync(() =>
        {
            var embedded = _executor.Embed(batch);
            _tokensComputed += batch.Inputs!.Sum(ids => ids.Length); // checked by the validator; counted on the device thread, as every step is
            return embedded;
        });
        SiloTelemetry.ForwardSeconds.Record(result.ComputeSeconds, _gauge!.Tags);
        span?.SetTag("compute_seconds", result.ComputeSeconds);
        return result with { Silo = SiloName };
    }

    public async Task<InspectResult> Inspect(InspectBatch batch)
    {
        using var span = SiloTelemetry.Source.StartActivity("stage.inspect");
        span?.SetTag("stage", _key.ToString());
        StageBatchValidator.Validate(batch, Shard, maxTopN: 100);
        var result = await gate.RunAsync(() =>
        {
            var inspected = _executor.Inspect(batch);
            _tokensComputed += batch.TokenIds.Length;
            return inspected;
        });
        SiloTelemetry.ForwardSeconds.Record(result.ComputeSeconds, _gauge!.Tags);
        return result with { Silo = SiloName };
    }

    public Task Release(IReadOnlyList<string> sessionIds, CacheRelease release) => gate.RunAsync(() =>
    {
        _sessions.Release(sessionIds, release);
        ObserveKvUsage();
        return sessionIds.Count;
    });

    public Task<int> ExpireIdleSessions() => gate.RunAsync(() =>
    {
        var expired = _sessions.Expire(options.Value.IdleSessionExpiry);
        ObserveKvUsage();
        return expired;
    });

    // Sums the sessions' bytes only when someone observes the gauge.
    private void ObserveKvUsage()
    {
        if (_gauge is not null && StageGauge.KvUsageObserved)
        {
            _gauge.RecordKvUsage(_sessions.UsedBytes, _sessions.BudgetBytes);
        }
    }

    private void TagForward(Activity span, StageBatch batch)
    {
        span.SetTag("model", _key.Model);
        span.SetTag("replica", _key.Replica);
        span.SetTag("stage", _key.Stage);
        span.SetTag("layers", _layers);
        span.SetTag("silo", SiloName);
        span.SetTag("step.id", batch.StepId);
        span.SetTag("sessions", batch.Entries.Count);
        span.SetTag("tokens", batch.Entries.Sum(e => e.TokenIds.Length));
    }

    public Task<StageStatus> GetStatus() => gate.RunAsync(() => new StageStatus(
        _sessions.ActiveCount, _sessions.IdleCount, _sessions.UsedBytes, _sessions.BudgetBytes, _tokensComputed, _steps, _sessions.Evictions, SiloName,
        _sessions.PeakBytes, _sessions.RetainedCount, _sessions.RetainedBytes, _sessions.PrefixHitTokens));

    // Formatted once: every step's result and span carries it.
    private string SiloName => _siloName ??= silo.SiloAddress.ToString();

    private static long BytesPerToken(ModelShard shard)
    {
        using var probe = shard.CreateCache(1);
        return probe.BytesPerToken;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stage {Stage} loaded layers {Layers} on {Device} in {DType}, weights in {WeightDType}")]
    private static partial void LogLoaded(ILogger logger, string stage, string layers, string device, string dtype, string weightDType);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stage {Stage} keeps int8 weights on a CPU without AVX2: its int8 kernel runs its scalar reference, many times slower than WeightDType bfloat16 would run here")]
    private static partial void LogInt8WithoutVectors(ILogger logger, string stage);

    // AVX2 without AVX-VNNI: as fast at one sequence, 1.4-1.8 times slower at 8 and 32 (docs/PERFORMANCE.md, 7 December).
    [LoggerMessage(Level = LogLevel.Information, Message = "Stage {Stage} multiplies its int8 weights with {Int8Path} instructions")]
    private static partial void LogInt8Path(ILogger logger, string stage, string int8Path);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stage {Stage} deactivating ({Reason}: {Description}); dropping {Sessions} active sessions' caches")]
    private static partial void LogDeactivating(ILogger logger, string stage, string reason, string description, int sessions);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stage {Stage} failed step {StepId}")]
    private static partial void LogStepFailed(ILogger logger, Exception error, string stage, long stepId);
}
