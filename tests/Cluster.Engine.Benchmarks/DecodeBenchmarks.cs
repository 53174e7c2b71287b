using BenchmarkDotNet.Attributes;
using Cluster.Engine.Caching;
using Cluster.Engine.Model;

namespace Cluster.Engine.Benchmarks;

/// <summary>
/// One decode step for 1, 8 and 32 sequences that each hold 128 positions of context (the caches are rewound
/// every invocation, so every step sees the same context length).
/// </summary>
public class DecodeBenchmarks
{
    public const int DecodeContext = 128;

    private ModelShard _model = null!;
    private readonly Dictionary<int, KvCache[]> _decodeCaches = [];

    [Params(1, 8, 32)]
    public int Sequences { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _model = Gpt2SmallCheckpoint.Load();
        var prompt = Gpt2SmallCheckpoint.Tokens(DecodeContext + 32);
        var caches = new KvCache[Sequences];
        for (var s = 0; s < Sequences; s++)
        {
            caches[s] = _model.CreateCache(DecodeContext + 1);
            using var logits = _model.Forward([SequenceChunk.ForTokens(caches[s], 0, prompt[s..(s + DecodeContext)])]);
        }
        _decodeCaches[Sequences] = caches;
    }

    /// <summary>One decode step: a new token for each of <see cref="Sequences"/> sequences, batched.</summary>
    [Benchmark]
    public float DecodeStep()
    {
        var caches = _decodeCaches[Sequences];
        var chunks = new SequenceChunk[caches.Length];
        for (var s = 0; s < caches.Length; s++)
        {
            caches[s].Truncate(DecodeContext);
            chunks[s] = SequenceChunk.Continue(caches[s], [s + 1]);
        }
        using var logits = _model.Forward(chunks);
        return logits[0, 0].item<float>();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var caches in _decodeCaches.Values)
        {
            foreach (var c in caches)
            {
                c.Dispose();
            }
        }
        _model.Dispose();
    }
}
