using System.Text.Json;

namespace Cluster.Engine.Tests.Reference;

/// <summary>Reading config.json values; a JSON null counts as absent, as in transformers.</summary>
internal static class Json
{
    public static bool TryGet(JsonElement obj, string name, out JsonElement value)
    {
        if (obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null)
        {
            return true;
        }
        value = default;
        return false;
    }

    /// <summary>The key is written, possibly as null.</summary>
    public static bool Present(JsonElement obj, string name) => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out _);

    public static int Int(JsonElement obj, string name, int fallback) =>
        TryGet(obj, name, out var v) ? (int)v.GetDouble() : fallback;

    public static int? IntOrNull(JsonElement obj, string name) =>
        TryGet(obj, name, out var v) ? (int)v.GetDouble() : null;

    public static double Double(JsonElement obj, string name, double fallback) =>
        TryGet(obj, name, out var v) ? v.GetDouble() : fallback;

    public static bool Bool(JsonElement obj, string name, bool fallback) =>
        TryGet(obj, name, out var v) ? v.GetBoolean() : fallback;

    public static string? String(JsonElement obj, string name) =>
        TryGet(obj, name, out var v) ? v.GetString() : null;

    public static double Required(JsonElement obj, string name, string where) =>
        TryGet(obj, name, out var v) ? v.GetDouble() : throw new KeyNotFoundException($"{where} has no \"{name}\".");
}

/// <summary>Llama-family settings (llama, qwen2, mistral) with the defaults of the transformers config classes.</summary>
internal sealed record LlamaSettings(
    string ModelType,
    int HiddenSize,
    int IntermediateSize,
    int Layers,
    int Heads,
    int KvHeads,
    int HeadDim,
    int VocabSize,
    double RmsNormEps,
    double[] InvFreq,
    bool TieWordEmbeddings,
    bool QkvBias,
    bool OutputBias,
    bool MlpBias,
    int?[] SlidingWindowPerLayer)
{
    public static LlamaSettings Parse(JsonElement c)
    {
        string modelType = Json.String(c, "model_type") ?? throw new KeyNotFoundException("config.json has no \"model_type\".");
        // Class defaults: LlamaConfig, Qwen2Config, MistralConfig.
        (int vocab, int hidden, int inter, int layers, int heads, int? kv) = modelType switch
        {
            "llama" => (32000, 4096, 11008, 32, 32, (int?)null),
            "qwen2" => (151936, 4096, 22016, 32, 32, 32),
            "mistral" => (32000, 4096, 14336, 32, 32, 8),
            _ => throw new NotSupportedException($"model_type '{modelType}' is not a Llama-family model."),
        };
        int hiddenSize = Json.Int(c, "hidden_size", hidden);
        int numHeads = Json.Int(c, "num_attention_heads", heads);
        int numKv = Json.IntOrNull(c, "num_key_value_heads") ?? kv ?? numHeads;
        int headDim = Json.IntOrNull(c, "head_dim") ?? hiddenSize / numHeads;
        int numLayers = Json.Int(c, "num_hidden_layers", layers);
        if (numHeads % numKv != 0)
        {
            throw new InvalidDataException($"num_attention_heads {numHeads} is not a multiple of num_key_value_heads {numKv}.");
        }
        string act = Json.String(c, "hidden_act") ?? "silu";
        if (act != "silu")
        {
            throw new NotSupportedException($"hidden_act '{act}' is not supported by the reference (only silu).");
        }

        // Biases: Llama has attention_bias (q, k, v and o) and mlp_bias; Qwen2 always has q, k, v biases; Mistral none.
        bool qkvBias = modelType switch
        {
            "llama" => Json.Bool(c, "attention_bias", false),
            "qwen2" => true,
            _ => false,
        };
        bool oBias = modelType == "llama" && Json.Bool(c, "attention_bias", false);
        bool mlpBias = modelType == "llama" && Json.Bool(c, "mlp_bias", false);

        var windows = SlidingWindows(c, modelType, numLayers);
        return new LlamaSettings(
            modelType,
            hiddenSize,
            Json.Int(c, "intermediate_size", inter),
            numLayers,
            numHeads,
            numKv,
            headDim,
            Json.Int(c, "vocab_size", vocab),
            Json.Double(c, "rms_norm_eps", 1e-6),
            RopeInvFreq(c, headDim),
            Json.Bool(c, "tie_word_embeddings", false),
            qkvBias,
            oBias,
            mlpBias,
            windows);
    }

    /// <summary>
    /// Sliding-window attention per layer (null = full causal). Mistral: every layer when sliding_window is set.
    /// Qwen2: only when use_sliding_window, and then the layers from max_window_layers on. An explicit
    /// "layer_types" list (newer configs) wins. A window w lets query q see keys k with q - w &lt; k &lt;= q.
    /// </summary>
    private static int?[] SlidingWindows(JsonElement c, string modelType, int layers)
    {
        var result = new int?[layers];
        int? window = modelType switch
        {
            "mistral" => Json.Present(c, "sliding_window") ? Json.IntOrNull(c, "sliding_window") : 4096,
            "qwen2" => Json.Bool(c, "use_sliding_window", false)
                ? (Json.Present(c, "sliding_window") ? Json.IntOrNull(c, "sliding_window") : 4096)
                : null,
            _ => null,
        };
        if (window is null)
        {
            return result;
        }
        if (Json.TryGet(c, "layer_types", out var types))
        {
            var list = types.EnumerateArray().Select(t => t.GetString()).ToArray();
            for (int i = 0; i < layers && i < list.Length; i++)
            {
                result[i] = list[i] == "sliding_attention" ? window : null;
            }
            return result;
        }
        int firstSliding = modelType == "qwen2" ? Json.Int(c, "max_window_layers", 28) : 0;
        for (int i = firstSliding; i < layers; i++)
        {
            result[i] = window;
        }
        return result;
    }

    /// <summary>
    /// inv_freq from rope_theta and rope_scaling (or the newer "rope_parameters"), as transformers'
    /// ROPE_INIT_FUNCTIONS: "default", "linear" (inv_freq / factor) and "llama3". Others are refused.
    /// </summary>
    internal static double[] RopeInvFreq(JsonElement c, int headDim)
    {
        JsonElement parameters = default;
        bool hasParameters = Json.TryGet(c, "rope_scaling", out var scaling) || Json.TryGet(c, "rope_parameters", out scaling);
        if (hasParameters)
        {
            parameters = scaling;
        }
        double theta = Json.TryGet(c, "rope_theta", out var t) ? t.GetDouble()
            : hasParameters ? Json.Double(parameters, "rope_theta", 10000.0) : 10000.0;
        if (hasParameters && Json.Double(parameters, "partial_rotary_factor", 1.0) != 1.0)
        {
            throw new NotSupportedException("partial_rotary_factor other than 1 is not supported by the reference.");
        }
        var invFreq = ReferenceModel.DefaultInvFreq(headDim, theta);
        if (!hasParameters)
        {
            return invFreq;
        }
        string ropeType = Json.String(parameters, "rope_type") ?? Json.String(parameters, "type") ?? "default";
        const string where = "rope_scaling";
        return ropeType switch
        {
            "default" => invFreq,
            "linear" => invFreq.Select(f => f / Json.Required(parameters, "factor", where)).ToArray(),
            "llama3" => ReferenceModel.Llama3InvFreq(
                invFreq,
                Json.Required(parameters, "factor", where),
                Json.Required(parameters, "low_freq_factor", where),
                Json.Required(parameters, "high_freq_factor", where),
                Json.Required(parameters, "original_max_position_embeddings", where)),
            _ => throw new NotSupportedException($"rope type '{ropeType}' is not supported by the reference."),
        };
    }
}

/// <summary>GPT-2 settings with GPT2Config's defaults.</summary>
internal sealed record Gpt2Settings(
    int Embd,
    int Layers,
    int Heads,
    int Positions,
    int Inner,
    int VocabSize,
    double LayerNormEps,
    bool ScaleAttnWeights,
    bool ScaleByInverseLayerIdx,
    bool TieWordEmbeddings)
{
    public static Gpt2Settings Parse(JsonElement c)
    {
        int embd = Json.Int(c, "n_embd", 768);
        string act = Json.String(c, "activation_function") ?? "gelu_new";
        if (act is not ("gelu_new" or "gelu_pytorch_tanh"))
        {
            throw new NotSupportedException($"activation_function '{act}' is not supported by the reference (gelu_new only).");
        }
        return new Gpt2Settings(
            embd,
            Json.Int(c, "n_layer", 12),
            Json.Int(c, "n_head", 12),
            Json.Int(c, "n_positions", 1024),
            Json.IntOrNull(c, "n_inner") ?? 4 * embd,
            Json.Int(c, "vocab_size", 50257),
            Json.Double(c, "layer_norm_epsilon", 1e-5),
            Json.Bool(c, "scale_attn_weights", true),
            Json.Bool(c, "scale_attn_by_inverse_layer_idx", false),
            Json.Bool(c, "tie_word_embeddings", true));
    }
}
