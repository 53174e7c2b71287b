using System.Diagnostics;
using Cluster.Engine.Caching;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Engine.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Benchmarks.Profile;

/// <summary>
/// The pieces of a Llama decode step, each runnable alone on the shapes of an N-sequence step, over the checkpoint's
/// weights (a second copy of the model's values: the model keeps its own tensors private). Each method builds its
/// inputs first and returns the milliseconds of the timed region only, inside the dispose scope and inference mode a
/// forward runs in.
/// </summary>
internal sealed class ModelParts : IDisposable
{
    private readonly ModelConfig _config;
    private readonly ComputePlacement _placement;
    private readonly Linear[] _qkv, _output, _gateUp, _down; // per layer, weights (out, in), as the model's modules run them
    private readonly Tensor _embedding;                        // (V, H)
    private readonly Linear _head;                             // (V, H): the tied embedding, in the weights' dtype
    private readonly bool _ownsHead;
    private readonly RmsNorm[] _norms;                         // 2 per layer + the final one
    private readonly RotaryEmbedding _rotary;
    private readonly Attention _attention;                     // any layer's: Attend uses no weights

    /// <summary>Positions each cache holds before a timed decode token (the profile's <c>--context</c>).</summary>
    public int Context { get; set; } = 128;

    private ModelParts(ModelConfig config, ComputePlacement placement, Linear[] qkv, Linear[] output, Linear[] gateUp, Linear[] down,
        Tensor embedding, (Linear Projection, bool Owned) head, RmsNorm[] norms, RotaryEmbedding rotary, Attention attention)
    {
        (_config, _placement, _qkv, _output, _gateUp, _down, _embedding, _norms, _rotary, _attention) =
            (config, placement, qkv, output, gateUp, down, embedding, norms, rotary, attention);
        (_head, _ownsHead) = head;
    }

    public static ModelParts Load(string directory, EngineOptions options)
    {
        var config = ModelConfigReader.ReadFromDirectory(directory);
        var placement = ComputePlacement.Resolve(options);
        var checkpoint = CheckpointWeights.Open(directory);
        var weights = new WeightLoader(checkpoint, ModelFamily.For(config, checkpoint).ExpectedWeights(), placement);
        var layers = config.LayerCount;
        var qkv = new Linear[layers];
        var output = new Linear[layers];
        var gateUp = new Linear[layers];
        var down = new Linear[layers];
        var norms = new List<RmsNorm>();
        for (var i = 0; i < layers; i++)
        {
            var p = $"model.layers.{i}.";
            qkv[i] = weights.LoadLinearConcatenated([p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"]);
            output[i] = weights.LoadLinear(p + "self_attn.o_proj.weight");
            gateUp[i] = weights.LoadLinearConcatenated([p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"]);
            down[i] = weights.LoadLinear(p + "mlp.down_proj.weight");
            norms.Add(new RmsNorm(weights.Load(p + "input_layernorm.weight"), config.NormEpsilon));
            norms.Add(new RmsNorm(weights.Load(p + "post_attention_layernorm.weight"), config.NormEpsilon));
        }
        norms.Add(new RmsNorm(weights.Load("model.norm.weight"), config.NormEpsilon));
        var rotary = new RotaryEmbedding(config, placement.DType, placement.Device);
        // Attend touches no weight; these are layer 0's again, owned (and disposed) by the Attention.
        var attention = new Attention(config,
            weights.LoadLinearConcatenated(["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight", "model.layers.0.self_attn.v_proj.weight"]),
            weights.LoadLinear("model.layers.0.self_attn.o_proj.weight"), rotary);
        var embedding = weights.Load("model.embed_tokens.weight");
        return new ModelParts(config, placement, qkv, output, gateUp, down, embedding, weights.TiedProjection(embedding), [.. norms], rotary, attention);
    }

    /// <summary>The 4 products of every layer on (N, in) inputs.</summary>
    public double LinearLayers(int n)
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var x = torch.randn(n, _config.HiddenSize);                 // (N, H)
        var inner = torch.randn(n, _config.IntermediateSize);       // (N, I)
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < _qkv.Length; i++)
        {
            _ = _qkv[i].Forward(x);      // (N, qDim + 2·kvDim)
            _ = _output[i].Forward(x);   // (N, H)
            _ = _gateUp[i].Forward(x);   // (N, 2I)
            _ = _down[i].Forward(inner); // (N, H)
        }
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>The head's product on (N, H) and the conversion to fp32.</summary>
    public double LmHead(int n)
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var x = torch.randn(n, _config.HiddenSize); // (N, H)
        var clock = Stopwatch.StartNew();
        _ = _head.Forward(x).to_type(ScalarType.Float32); // (N, V)
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Attention.Attend for every layer, one new token per cache at position <see cref="Context"/>.</summary>
    public double Attention(KvCache[] caches)
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var n = caches.Length;
        var step = StepLayout.Create(DecodeChunks(caches), _config.ContextLength, _placement.Device);
        var q = torch.randn(n, _config.HeadCount, _config.HeadDimension);         // (N, nHeads, headDim)
        var k = torch.randn(n, _config.KeyValueHeadCount, _config.HeadDimension); // (N, nKv, headDim)
        var v = torch.randn(n, _config.KeyValueHeadCount, _config.HeadDimension);
        var clock = Stopwatch.StartNew();
        for (var layer = 0; layer < _config.LayerCount; layer++)
        {
            _ = _attention.Attend(q, k, v, step, layer); // (N, nHeads·headDim)
        }
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>The RmsNorms of a step (two per layer and the final one: 25 on issue #12's model) on (N, H).</summary>
    public double Norms(int n)
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var x = torch.randn(n, _config.HiddenSize); // (N, H)
        var clock = Stopwatch.StartNew();
        foreach (var norm in _norms)
        {
            _ = norm.Forward(x); // (N, H)
        }
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Rotary embedding of q and k in every layer.</summary>
    public double Rotary(KvCache[] caches)
    {
        var n = caches.Length;
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var q = torch.randn(n, _config.HeadCount, _config.HeadDimension);         // (N, nHeads, headDim)
        var k = torch.randn(n, _config.KeyValueHeadCount, _config.HeadDimension); // (N, nKv, headDim)
        var step = StepLayout.Create(DecodeChunks(caches), _config.ContextLength, _placement.Device);
        var clock = Stopwatch.StartNew();
        for (var layer = 0; layer < _config.LayerCount; layer++)
        {
            _ = _rotary.Apply(q, step); // as Attention.Forward calls it (in place on CPU fp32)
            _ = _rotary.Apply(k, step);
        }
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>The two residual adds of every layer and its SwiGLU gate silu(gate)·up.</summary>
    public double ResidualAddsAndGates(int n)
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var x = torch.randn(n, _config.HiddenSize);                     // (N, H)
        var gateUp = torch.randn(n, 2L * _config.IntermediateSize);     // (N, 2I)
        var intermediate = (long)_config.IntermediateSize;
        var clock = Stopwatch.StartNew();
        for (var layer = 0; layer < _config.LayerCount; layer++)
        {
            var h = x.add(x);                                           // (N, H)
            _ = h.add(x);
            var gated = torch.empty(n, intermediate);                   // (N, I): the gate as SwiGluFeedForward runs it on the CPU
            Cluster.Kernels.SwiGluKernel.Run(TensorMemory.Float32Data(gateUp), TensorMemory.Float32Data(gated), n, (int)intermediate);
        }
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>The three StepLayouts a whole-model forward builds (embed, layers, logits), plus the logits' row pick.</summary>
    public double StepLayouts(KvCache[] caches)
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var chunks = DecodeChunks(caches);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 3; i++)
        {
            _ = StepLayout.Create(chunks, _config.ContextLength, _placement.Device);
        }
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Token ids to a tensor and the embedding lookup.</summary>
    public double Embedding(int n)
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var ids = Enumerable.Range(0, n).Select(i => (long)(i * 7919 % _config.VocabularySize)).ToArray();
        var clock = Stopwatch.StartNew();
        var tokenIds = torch.tensor(ids, ScalarType.Int64, _placement.Device); // (N)
        _ = _embedding.index_select(0, tokenIds);                             // (N, H)
        return clock.Elapsed.TotalMilliseconds;
    }

    private SequenceChunk[] DecodeChunks(KvCache[] caches)
    {
        var chunks = new SequenceChunk[caches.Length];
        for (var s = 0; s < caches.Length; s++)
        {
            caches[s].Truncate(Math.Min(caches[s].Length, Context));
            chunks[s] = new SequenceChunk(caches[s], Context, 1, [s]);
        }
        return chunks;
    }

    public void Dispose()
    {
        foreach (var t in _qkv.Concat(_output).Concat(_gateUp).Concat(_down))
        {
            t.Dispose();
        }
        _embedding.Dispose();
        if (_ownsHead)
        {
            _head.Dispose();
        }
        foreach (var norm in _norms)
        {
            norm.Dispose();
        }
        _attention.Dispose();
        _rotary.Dispose();
    }
}
