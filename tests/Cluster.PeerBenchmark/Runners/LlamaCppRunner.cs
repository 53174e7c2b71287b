using System.Diagnostics;
using LLama;
using LLama.Native;

namespace Cluster.PeerBenchmark.Runners;

/// <summary>
/// llama.cpp through LLamaSharp's low-level API only: <see cref="LLamaBatch"/>, <c>NativeHandle.Decode</c>,
/// <c>GetLogitsIth</c> and an argmax (no sampler chain, no EOS stop). Lockstep: one batch per step holding every
/// sequence's next token, each sequence's logits read at its own batch index. A fresh context per run, sized
/// for that run's sequences.
/// </summary>
public sealed class LlamaCppRunner : IGreedyRunner
{
    private readonly LLamaWeights _weights;
    private readonly string _ggufPath;
    private readonly LlamaCppSettings _settings;
    private readonly int _threads;

    private LlamaCppRunner(string name, string ggufPath, LlamaCppSettings settings, int threads, LLamaWeights weights)
    {
        Name = name;
        _ggufPath = ggufPath;
        _settings = settings;
        _threads = threads;
        _weights = weights;
    }

    public string Name { get; }

    public static LlamaCppRunner Load(string name, string ggufPath, LlamaCppSettings settings, int threads)
    {
        LlamaCppNative.Initialize();
        var weights = LLamaWeights.LoadFromFile(settings.ContextParams(ggufPath, threads, 1, 256, 256));
        return new LlamaCppRunner(name, ggufPath, settings, threads, weights);
    }

    /// <summary>The model's vocabulary size as llama.cpp loaded it (the length of every logits row).</summary>
    public int VocabularySize => _weights.Vocab.Count;

    /// <summary>The model's shape as llama.cpp read it from the GGUF metadata.</summary>
    public LlamaCppModelFacts Facts => new(
        _weights.NativeHandle.LayerCount,
        _weights.NativeHandle.EmbeddingSize,
        _weights.NativeHandle.HeadCount,
        _weights.NativeHandle.KVHeadCount,
        _weights.NativeHandle.ContextSize,
        _weights.Vocab.Count,
        _weights.Metadata);

    public LockstepRun Run(IReadOnlyList<int[]> prompts, int newTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(newTokens, 1);
        var longest = prompts.Max(p => p.Length);
        var promptTokens = prompts.Sum(p => p.Length);
        using var context = _weights.CreateContext(_settings.ContextParams(_ggufPath, _threads, prompts.Count, longest + newTokens, Math.Max(promptTokens, prompts.Count)));
        var handle = context.NativeHandle;
        var batch = new LLamaBatch();
        var logitIndex = new int[prompts.Count];
        var positions = new int[prompts.Count];
        var generated = prompts.Select(_ => new int[newTokens]).ToArray();

        var clock = Stopwatch.StartNew();
        for (var s = 0; s < prompts.Count; s++)
        {
            logitIndex[s] = batch.AddRange(prompts[s].Select(t => (LLamaToken)t).ToArray(), 0, (LLamaSeqId)s, true);
            positions[s] = prompts[s].Length;
        }
        Decode(handle, batch);
        ReadNext(handle, logitIndex, generated, 0);
        var prefillSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        for (var step = 1; step < newTokens; step++)
        {
            batch.Clear();
            for (var s = 0; s < prompts.Count; s++)
            {
                logitIndex[s] = batch.Add(generated[s][step - 1], positions[s]++, (LLamaSeqId)s, true);
            }
            Decode(handle, batch);
            ReadNext(handle, logitIndex, generated, step);
        }
        return new LockstepRun(generated, prefillSeconds, clock.Elapsed.TotalSeconds, newTokens - 1);
    }

    public double PrefillSeconds(int[] prompt)
    {
        using var context = _weights.CreateContext(_settings.ContextParams(_ggufPath, _threads, 1, prompt.Length + 1, prompt.Length));
        var batch = new LLamaBatch();
        var last = batch.AddRange(prompt.Select(t => (LLamaToken)t).ToArray(), 0, (LLamaSeqId)0, true);
        var clock = Stopwatch.StartNew();
        Decode(context.NativeHandle, batch);
        _ = Greedy.ArgMax(context.NativeHandle.GetLogitsIth(last));
        return clock.Elapsed.TotalSeconds;
    }

    private static void ReadNext(SafeLLamaContextHandle handle, int[] logitIndex, int[][] generated, int step)
    {
        for (var s = 0; s < logitIndex.Length; s++)
        {
            generated[s][step] = Greedy.ArgMax(handle.GetLogitsIth(logitIndex[s]));
        }
    }

    private static void Decode(SafeLLamaContextHandle handle, LLamaBatch batch)
    {
        var result = handle.Decode(batch);
        if (result != DecodeResult.Ok)
        {
            throw new InvalidOperationException($"llama_decode of a batch of {batch.TokenCount} tokens returned {result}.{LlamaCppNative.RecentErrors()}");
        }
    }

    public void Dispose() => _weights.Dispose();
}

/// <summary>What llama.cpp read from a GGUF: its shape and every metadata key as text.</summary>
public sealed record LlamaCppModelFacts(int Layers, int Width, int Heads, int KeyValueHeads, int TrainedContext, int Vocabulary, IReadOnlyDictionary<string, string> Metadata);
