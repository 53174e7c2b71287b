using System.Diagnostics;
using Cluster.Engine.Caching;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using TorchSharp;

namespace Cluster.LoadTest;

/// <summary>
/// The baseline: the whole model in this process, <c>concurrency</c> sequences at a time in one batch (prefill all
/// prompts in one step, then decode all together, greedy, exactly max_new_tokens each). No network, no scheduler:
/// what the cluster's throughput is compared with.
/// </summary>
public sealed class EngineLoad(ModelShard model)
{
    private readonly HostLogits _logits = new(); // kept across steps, as StageExecutor keeps its own

    /// <summary>Runs one concurrency level; the engine takes fixed lengths and a request count only (no rate, no duration).</summary>
    public LevelResult RunLevel(LoadSettings settings, int concurrency, Action<int>? progress = null)
    {
        var level = LoadLevel.AtConcurrency(concurrency);
        var total = settings.RequestsAt(level) ?? throw new ArgumentException("The engine baseline needs a request count.", nameof(settings));
        var prompts = PromptSet.Create(total + settings.WarmupRequests, settings.PromptTokens.Min, settings.VocabularySize, settings.Seed);
        RunBatch(prompts[total..], settings);

        var records = new List<RequestRecord>(total);
        var clock = Stopwatch.StartNew();
        for (var start = 0; start < total; start += concurrency)
        {
            records.AddRange(RunBatch(prompts[start..Math.Min(total, start + concurrency)], settings));
            progress?.Invoke(records.Count);
        }
        return LevelResult.From("engine", level, clock.Elapsed.TotalSeconds, records, settings.Slo, settings.SlowestRequests);
    }

    private List<RequestRecord> RunBatch(int[][] prompts, LoadSettings settings)
    {
        if (prompts.Length == 0)
        {
            return [];
        }
        var samplers = prompts.Select(_ => new TokenSampler(SamplingParameters.GreedyTokensOnly)).ToList();
        var histories = prompts.Select(p => p.ToList()).ToList();
        var caches = prompts.Select(p => model.CreateCache(p.Length + settings.MaxNewTokens.Min)).ToList();
        try
        {
            var clock = Stopwatch.StartNew();
            var chunks = prompts.Select((p, i) => SequenceChunk.ForTokens(caches[i], 0, p)).ToList();
            var times = new List<double>[prompts.Length];
            for (var i = 0; i < prompts.Length; i++)
            {
                times[i] = new List<double>(settings.MaxNewTokens.Min);
            }
            for (var step = 0; step < settings.MaxNewTokens.Min; step++)
            {
                var next = SampleStep(chunks, samplers, histories);
                var now = clock.Elapsed.TotalSeconds;
                for (var i = 0; i < prompts.Length; i++)
                {
                    histories[i].Add(next[i]);
                    times[i].Add(now);
                }
                chunks = chunks.Select((c, i) => SequenceChunk.Continue(caches[i], [next[i]])).ToList();
            }
            return prompts.Select((p, i) => new RequestRecord(times[i][0], times[i][^1], p.Length, times[i].Count,
                times[i].Zip(times[i].Skip(1), (a, b) => b - a).ToList(), null)).ToList();
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache.Dispose();
            }
        }
    }

    private int[] SampleStep(List<SequenceChunk> chunks, List<TokenSampler> samplers, List<List<int>> histories)
    {
        using var scope = torch.NewDisposeScope();
        _logits.Load(model.Forward(chunks)); // (N, V) float32
        return StepSampling.Sample(_logits, samplers, histories).Select(t => t.TokenId).ToArray();
    }
}
