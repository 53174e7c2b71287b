using System.Diagnostics;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Generation;

/// <summary>
/// Generates one sequence on a whole model in this process: prefill the prompt, then sample and decode one
/// token at a time until a stop rule fires. The single-process reference the cluster's output is compared with,
/// and what the engine's command line runs.
/// </summary>
public sealed class SequenceGenerator(ModelShard model)
{
    /// <summary>Prompt processing time of the last <see cref="Generate"/> (up to the first sampled token).</summary>
    public TimeSpan LastPrefillTime { get; private set; }

    /// <param name="prompt">The prompt's token ids.</param>
    /// <param name="parameters">How each token is drawn; the <see cref="TokenSampler"/> validates them.</param>
    /// <param name="stop">When to stop; validated here, before the first forward.</param>
    /// <param name="eosTokenIds">The model's end-of-sequence ids.</param>
    /// <param name="cancellation">Checked before each forward.</param>
    /// <param name="constraint">What this sequence's output must be (JSON mode, a JSON schema), or null for free text.</param>
    public IEnumerable<GeneratedToken> Generate(IReadOnlyList<int> prompt, SamplingParameters parameters, StopConditions stop, IReadOnlyList<int> eosTokenIds,
        CancellationToken cancellation = default, Sampling.IOutputConstraint? constraint = null)
    {
        if (!model.HasEmbedding || !model.HasHead)
        {
            throw new InvalidOperationException($"Generation needs the whole model; this shard holds layers {model.Layers}.");
        }
        if (prompt.Count == 0)
        {
            throw new ArgumentException("The prompt has no tokens.", nameof(prompt));
        }
        ArgumentNullException.ThrowIfNull(stop);
        stop.Validate();
        var sampler = new TokenSampler(parameters, constraint); // validates the sampling parameters before anything runs
        var total = prompt.Count + stop.MaxNewTokens;
        if (total > model.Config.ContextLength)
        {
            throw new ArgumentException($"Prompt of {prompt.Count} tokens plus max_new_tokens {stop.MaxNewTokens} is {total}, beyond the context length of {model.Config.ContextLength}.");
        }
        return Run(prompt, sampler, stop, eosTokenIds, total, cancellation);
    }

    private IEnumerable<GeneratedToken> Run(IReadOnlyList<int> prompt, TokenSampler sampler, StopConditions stop, IReadOnlyList<int> eosTokenIds, int total, CancellationToken cancellation)
    {
        var history = new List<int>(prompt);
        using var cache = model.CreateCache(total);
        var chunk = SequenceChunk.ForTokens(cache, 0, prompt);
        var clock = Stopwatch.StartNew();
        var host = new HostLogits();
        for (var generated = 1; ; generated++)
        {
            cancellation.ThrowIfCancellationRequested();
            var sampled = sampler.Sample(NextTokenLogits(chunk, host), history);
            if (generated == 1)
            {
                LastPrefillTime = clock.Elapsed;
            }
            history.Add(sampled.TokenId);
            var finish = StopRule.Check(sampled.TokenId, generated, stop, eosTokenIds);
            yield return new GeneratedToken(sampled.TokenId, sampled.Logprob, sampled.TopAlternatives, finish);
            if (finish != FinishReason.None)
            {
                yield break;
            }
            chunk = SequenceChunk.Continue(cache, [sampled.TokenId]);
        }
    }

    private ReadOnlySpan<float> NextTokenLogits(SequenceChunk chunk, HostLogits host)
    {
        using var scope = torch.NewDisposeScope();
        host.Load(model.Forward([chunk])); // (1, V), float32
        return host.Row(0);
    }
}
