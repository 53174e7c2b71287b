using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using Cluster.Kernels;

namespace Cluster.Engine.Benchmarks;

/// <summary>
/// One layer's decode attention (<see cref="DecodeAttention.Run"/>) for grouped-query models, where several query
/// heads share a KV head: each head streaming the whole cache on its own (<see cref="Grouped"/> false) against the
/// group's heads reading each block of keys and values together (true). Head layouts of real checkpoints: Llama 3 8B
/// (32 query heads, 8 KV heads, dim 128) and SmolLM2-135M (9, 3, 64); fp32 caches of random values, every sequence
/// at <see cref="Context"/> positions.
/// </summary>
public unsafe class DecodeAttentionBenchmarks
{
    public enum Layout { Llama3_8B, SmolLM2_135M }

    private nint[] _buffers = [];
    private DecodeAttentionSequence[] _sequences = [];
    private (int Heads, int KvHeads, int HeadDim) _shape;

    [Params(Layout.Llama3_8B, Layout.SmolLM2_135M)]
    public Layout Model { get; set; }

    [Params(1, 16)]
    public int Sequences { get; set; }

    [Params(1024)]
    public int Context { get; set; }

    [Params(false, true)]
    public bool Grouped { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _shape = Model == Layout.Llama3_8B ? (32, 8, 128) : (9, 3, 64);
        var (heads, kvHeads, headDim) = _shape;
        var random = new Random(1);
        nint Buffer(long floats)
        {
            var p = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
            for (var i = 0L; i < floats; i++)
            {
                p[i] = (float)(random.NextDouble() * 2 - 1);
            }
            _buffers = [.. _buffers, (nint)p];
            return (nint)p;
        }
        _sequences = Enumerable.Range(0, Sequences).Select(_ => new DecodeAttentionSequence(
            Buffer(heads * headDim), Buffer(kvHeads * headDim), Buffer(kvHeads * headDim),
            Buffer((long)kvHeads * Context * headDim), Buffer((long)kvHeads * Context * headDim), Context, Context - 1, Buffer(heads * headDim))).ToArray();
        DecodeAttention.UseGroupBlocks = Grouped;
    }

    [Benchmark]
    public void Attend() => DecodeAttention.Run(_sequences, _shape.Heads, _shape.KvHeads, _shape.HeadDim);

    [GlobalCleanup]
    public void Cleanup()
    {
        DecodeAttention.UseGroupBlocks = true;
        foreach (var buffer in _buffers)
        {
            NativeMemory.AlignedFree((void*)buffer);
        }
        _buffers = [];
    }
}
