using BenchmarkDotNet.Attributes;
using Cluster.Engine.Caching;
using Cluster.Engine.Model;

namespace Cluster.Engine.Benchmarks;

/// <summary>Prompt processing: 512 tokens through all 12 layers into an empty cache, logits of the last token.</summary>
public class PrefillBenchmarks
{
    public const int PromptTokens = 512;

    private ModelShard _model = null!;
    private KvCache _cache = null!;
    private int[] _prompt = null!;

    [GlobalSetup]
    public void Setup()
    {
        _model = Gpt2SmallCheckpoint.Load();
        _prompt = Gpt2SmallCheckpoint.Tokens(PromptTokens);
        _cache = _model.CreateCache(PromptTokens);
    }

    [Benchmark]
    public float Prefill512()
    {
        _cache.Truncate(0);
        using var logits = _model.Forward([SequenceChunk.ForTokens(_cache, 0, _prompt)]);
        return logits[0, 0].item<float>();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cache.Dispose();
        _model.Dispose();
    }
}
