using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Engine.Weights;
using TorchSharp;
using TorchSharp.Modules;
using Linear = Cluster.Engine.Model.Linear;
using static TorchSharp.torch;

namespace Cluster.Engine.Training;

/// <summary>
/// A Llama-architecture model whose weights are trainable fp32 parameters, built from the same module classes
/// the engine serves with (<see cref="RmsNorm"/>, <see cref="Attention"/>, <see cref="SwiGluFeedForward"/>,
/// <see cref="DecoderBlock"/>, <see cref="LanguageModelHead"/>) and run through their cache-free causal path.
/// Fused matrices (q/k/v, gate/up) are trained fused and split into Hugging Face keys when saved, so the
/// saved checkpoint loads through <see cref="ModelShard.Load"/> like any other.
/// </summary>
public sealed class TrainableLlama : IDisposable
{
    private readonly List<(string Name, Parameter Value, bool Decays)> _parameters = [];
    private readonly TokenEmbedding _embedding;
    private readonly DecoderBlock[] _blocks;
    private readonly LanguageModelHead _head;
    private readonly RotaryEmbedding _rotary;

    /// <summary>Fresh weights drawn from <paramref name="seed"/>: normal(0, 0.02) matrices, residual outputs scaled by 1/√(2·layers), norms at one.</summary>
    public TrainableLlama(ModelConfig config, long seed)
    {
        if (config.Architecture != ModelArchitecture.Llama || config.QkvBias || config.OutputProjectionBias || !config.TieWordEmbeddings)
        {
            throw new ArgumentException("Training builds bias-free Llama models with tied embeddings.", nameof(config));
        }
        Config = config;
        var generator = new Generator((ulong)seed);
        long h = config.HiddenSize, q = config.HeadCount * config.HeadDimension, kv = config.KeyValueHeadCount * config.HeadDimension, i = config.IntermediateSize;
        // GPT-2's scaled init for the projections that write into the residual stream keeps its variance flat with depth.
        var residualStd = 0.02 / Math.Sqrt(2.0 * config.LayerCount);

        _rotary = new RotaryEmbedding(config, ScalarType.Float32, CPU);
        _embedding = new TokenEmbedding(Normal("model.embed_tokens.weight", [config.VocabularySize, h], 0.02, generator));
        _blocks = new DecoderBlock[config.LayerCount];
        for (var layer = 0; layer < config.LayerCount; layer++)
        {
            var p = $"model.layers.{layer}.";
            var attention = new Attention(config,
                new Linear(Normal(p + "self_attn.qkv_proj.weight", [q + 2 * kv, h], 0.02, generator), null),
                new Linear(Normal(p + "self_attn.o_proj.weight", [h, q], residualStd, generator), null), _rotary);
            var feedForward = new SwiGluFeedForward(
                new Linear(Normal(p + "mlp.gate_up_proj.weight", [2 * i, h], 0.02, generator), null),
                new Linear(Normal(p + "mlp.down_proj.weight", [h, i], residualStd, generator), null));
            _blocks[layer] = new DecoderBlock(
                new RmsNorm(Ones(p + "input_layernorm.weight", h), config.NormEpsilon), attention,
                new RmsNorm(Ones(p + "post_attention_layernorm.weight", h), config.NormEpsilon), feedForward);
        }
        _head = new LanguageModelHead(new RmsNorm(Ones("model.norm.weight", h), config.NormEpsilon), new Linear(_embedding.TokenWeight, null), ownsProjection: false);
    }

    public ModelConfig Config { get; }

    /// <summary>Every trainable tensor; matrices decay under AdamW, norm weights do not.</summary>
    public IReadOnlyList<(string Name, Parameter Value, bool Decays)> Parameters => _parameters;

    public long ParameterCount => _parameters.Sum(p => p.Value.numel());

    /// <summary>Next-token logits at every position of every sequence.</summary>
    /// <param name="tokenIds">(B, T) int64, each sequence starting at position 0.</param>
    /// <returns>(B, T, V) float32.</returns>
    public Tensor Forward(Tensor tokenIds)
    {
        var t = tokenIds.shape[1];
        if (t > Config.ContextLength)
        {
            throw new ArgumentException($"Sequences of {t} tokens exceed the context length {Config.ContextLength}.", nameof(tokenIds));
        }
        var positions = torch.arange(t, ScalarType.Int64);          // (T)
        var x = _embedding.TokenWeight.index_select(0, tokenIds.flatten()).view(tokenIds.shape[0], t, -1); // (B, T, H)
        foreach (var block in _blocks)
        {
            x = block.ForwardCausal(x, positions);                   // (B, T, H)
        }
        return _head.Forward(x);                                     // (B, T, V)
    }

    /// <summary>Mean next-token cross-entropy (nats) of <paramref name="windows"/> (B, T+1): inputs [0,T), targets [1,T+1).</summary>
    public Tensor Loss(Tensor windows)
    {
        var t = windows.shape[1] - 1;
        var logits = Forward(windows.narrow(1, 0, t));               // (B, T, V)
        var targets = windows.narrow(1, 1, t);                       // (B, T)
        return nn.functional.cross_entropy(logits.reshape(-1, Config.VocabularySize), targets.reshape(-1)); // ()
    }

    /// <summary>
    /// Writes config.json and model.safetensors (Hugging Face LlamaForCausalLM keys) in <paramref name="diskDType"/>.
    /// </summary>
    public void Save(string directory, ScalarType diskDType)
    {
        Directory.CreateDirectory(directory);
        ModelConfigWriter.Write(Path.Combine(directory, "config.json"), Config with { TorchDtype = DTypes.ToConfigName(diskDType) });
        using var scope = torch.NewDisposeScope();
        long q = Config.HeadCount * Config.HeadDimension, kv = Config.KeyValueHeadCount * Config.HeadDimension, i = Config.IntermediateSize;
        var tensors = new List<(string, Tensor)>();
        foreach (var (name, value, _) in _parameters)
        {
            var w = value.detach();
            if (name.EndsWith(".self_attn.qkv_proj.weight", StringComparison.Ordinal))
            {
                var prefix = name[..^"qkv_proj.weight".Length];
                tensors.Add((prefix + "q_proj.weight", w.narrow(0, 0, q)));         // (qDim, H)
                tensors.Add((prefix + "k_proj.weight", w.narrow(0, q, kv)));        // (kvDim, H)
                tensors.Add((prefix + "v_proj.weight", w.narrow(0, q + kv, kv)));   // (kvDim, H)
            }
            else if (name.EndsWith(".mlp.gate_up_proj.weight", StringComparison.Ordinal))
            {
                var prefix = name[..^"gate_up_proj.weight".Length];
                tensors.Add((prefix + "gate_proj.weight", w.narrow(0, 0, i)));      // (I, H)
                tensors.Add((prefix + "up_proj.weight", w.narrow(0, i, i)));        // (I, H)
            }
            else
            {
                tensors.Add((name, w));
            }
        }
        SafetensorsFileWriter.Write(Path.Combine(directory, "model.safetensors"), tensors, diskDType);
    }

    private Parameter Normal(string name, long[] shape, double std, Generator generator)
    {
        var value = new Parameter(torch.normal(0.0, std, shape, ScalarType.Float32, generator: generator));
        _parameters.Add((name, value, true));
        return value;
    }

    private Parameter Ones(string name, long size)
    {
        var value = new Parameter(torch.ones(size, ScalarType.Float32));
        _parameters.Add((name, value, false));
        return value;
    }

    public void Dispose()
    {
        _embedding.Dispose(); // the tied head does not own the embedding matrix
        foreach (var block in _blocks)
        {
            block.Dispose();
        }
        _head.Dispose();
        _rotary.Dispose();
    }
}
