using System.Diagnostics;
using Cluster.Engine.Caching;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using TorchSharp;

namespace Cluster.PeerBenchmark.Runners;

/// <summary>
/// Our engine in this process, driven as the load tool's <c>engine</c> target drives it (tests/Cluster.LoadTest/EngineLoad.cs):
/// <see cref="ModelShard.Forward"/> over every sequence's chunk in one step, logits to the host, the greedy
/// <see cref="TokenSampler"/> per sequence. What a silo's step costs, host work included.
/// </summary>
public sealed class EngineRunner : IGreedyRunner
{
    private readonly ModelShard _model;
    private readonly HostLogits _logits = new(); // kept across steps, as StageExecutor keeps its own

    private EngineRunner(string name, ModelShard model)
    {
        Name = name;
        _model = model;
    }

    public string Name { get; }

    public static EngineRunner Load(string name, string checkpointDirectory, EngineOptions options) =>
        new(name, ModelShard.Load(checkpointDirectory, options: options));

    public LockstepRun Run(IReadOnlyList<int[]> prompts, int newTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(newTokens, 1);
        var samplers = prompts.Select(_ => new TokenSampler(SamplingParameters.GreedyTokensOnly)).ToList();
        var histories = prompts.Select(p => p.ToList()).ToList();
        var caches = prompts.Select(p => _model.CreateCache(p.Length + newTokens)).ToList();
        try
        {
            var generated = prompts.Select(_ => new int[newTokens]).ToArray();
            var clock = Stopwatch.StartNew();
            var chunks = prompts.Select((p, i) => SequenceChunk.ForTokens(caches[i], 0, p)).ToList();
            var prefillSeconds = 0.0;
            for (var step = 0; step < newTokens; step++)
            {
                var next = Step(chunks, samplers, histories);
                if (step == 0)
                {
                    prefillSeconds = clock.Elapsed.TotalSeconds;
                    clock.Restart();
                }
                for (var i = 0; i < prompts.Count; i++)
                {
                    generated[i][step] = next[i];
                    histories[i].Add(next[i]);
                }
                chunks = chunks.Select((c, i) => SequenceChunk.Continue(caches[i], [next[i]])).ToList();
            }
            return new LockstepRun(generated, prefillSeconds, clock.Elapsed.TotalSeconds, newTokens - 1);
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache.Dispose();
            }
        }
    }

    public double PrefillSeconds(int[] prompt)
    {
        using var cache = _model.CreateCache(prompt.Length);
        var clock = Stopwatch.StartNew();
        using var scope = torch.NewDisposeScope();
        _logits.Load(_model.Forward([SequenceChunk.ForTokens(cache, 0, prompt)])); // (1, V)
        return clock.Elapsed.TotalSeconds;
    }

    private int[] Step(List<SequenceChunk> chunks, List<TokenSampler> samplers, List<List<int>> histories)
    {
        using var scope = torch.NewDisposeScope();
        _logits.Load(_model.Forward(chunks)); // (N, V) float32
        return StepSampling.Sample(_logits, samplers, histories).Select(t => t.TokenId).ToArray();
    }

    public void Dispose() => _model.Dispose();
}
