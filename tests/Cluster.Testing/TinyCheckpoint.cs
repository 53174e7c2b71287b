using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cluster.Testing;

/// <summary>
/// Writes a deterministic random model in real Hugging Face layout (config.json, *.safetensors, tokenizer
/// files), so tests run the real loading code on Llama-family and GPT-2 checkpoints.
/// </summary>
public static class TinyCheckpoint
{
    /// <summary>Writes the checkpoint into <paramref name="directory"/> (created if needed) and returns its tensors as written.</summary>
    public static IReadOnlyList<SafetensorsWriter.Tensor> Write(string directory, TinyModelOptions options)
    {
        Directory.CreateDirectory(directory);
        var random = new DeterministicRandom(options.Seed);
        var tensors = options.ModelType == "gpt2" ? Gpt2Tensors(options, random) : LlamaTensors(options, random);
        WriteWeights(directory, tensors, options);
        var tokenizer = WriteTokenizer(directory, options);
        var config = ConfigJson(options);
        if (tokenizer is not null)
        {
            // The model's special ids are the tokenizer's, as in a real checkpoint.
            config["bos_token_id"] = tokenizer.BosTokenId ?? tokenizer.EosTokenIds[0];
            config["eos_token_id"] = tokenizer.EosTokenIds[0];
        }
        File.WriteAllText(Path.Combine(directory, "config.json"), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return tensors;
    }

    /// <summary>A fresh temporary directory holding a tiny checkpoint; delete it when done (see <see cref="TempDirectory"/>).</summary>
    public static TempDirectory WriteTemporary(TinyModelOptions options)
    {
        var dir = TempDirectory.Create("tiny-" + options.ModelType);
        Write(dir.Path, options);
        return dir;
    }

    private static TokenizerFileInfo? WriteTokenizer(string directory, TinyModelOptions options)
    {
        var info = options.Tokenizer switch
        {
            TinyTokenizer.Gpt2Bpe => TinyTokenizerFiles.WriteGpt2Bpe(directory, options.VocabularySize),
            TinyTokenizer.SentencePiece => TinyTokenizerFiles.WriteSentencePiece(directory),
            _ => null,
        };
        if (info is not null && info.VocabularySize > options.VocabularySize)
        {
            throw new ArgumentException($"The {options.Tokenizer} tokenizer has {info.VocabularySize} tokens but the model only {options.VocabularySize}.");
        }
        return info;
    }

    private static JsonObject ConfigJson(TinyModelOptions o)
    {
        if (o.ModelType == "gpt2")
        {
            return new JsonObject
            {
                ["architectures"] = new JsonArray("GPT2LMHeadModel"),
                ["model_type"] = "gpt2",
                ["vocab_size"] = o.VocabularySize,
                ["n_embd"] = o.HiddenSize,
                ["n_layer"] = o.LayerCount,
                ["n_head"] = o.HeadCount,
                ["n_inner"] = o.IntermediateSize,
                ["n_positions"] = o.MaxPositionEmbeddings,
                ["n_ctx"] = o.MaxPositionEmbeddings,
                ["layer_norm_epsilon"] = 1e-5,
                ["activation_function"] = "gelu_new",
                ["bos_token_id"] = o.VocabularySize - 1,
                ["eos_token_id"] = o.VocabularySize - 1,
                ["torch_dtype"] = TorchDtype(o.DType),
            };
        }
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(o.ModelType == "qwen2" ? "Qwen2ForCausalLM" : o.ModelType == "mistral" ? "MistralForCausalLM" : "LlamaForCausalLM"),
            ["model_type"] = o.ModelType,
            ["vocab_size"] = o.VocabularySize,
            ["hidden_size"] = o.HiddenSize,
            ["num_hidden_layers"] = o.LayerCount,
            ["num_attention_heads"] = o.HeadCount,
            ["num_key_value_heads"] = o.KeyValueHeadCount,
            ["intermediate_size"] = o.IntermediateSize,
            ["max_position_embeddings"] = o.MaxPositionEmbeddings,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = o.RopeTheta,
            ["tie_word_embeddings"] = o.TieWordEmbeddings,
            ["hidden_act"] = "silu",
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
            ["torch_dtype"] = TorchDtype(o.DType),
        };
        if (o.ModelType != "qwen2")
        {
            config["attention_bias"] = o.AttentionBias;
        }
        if (o.HeadDimension is { } headDim)
        {
            config["head_dim"] = headDim;
        }
        if (o.Llama3RopeScaling is { } s)
        {
            config["rope_scaling"] = new JsonObject
            {
                ["rope_type"] = "llama3",
                ["factor"] = s.Factor,
                ["low_freq_factor"] = s.Low,
                ["high_freq_factor"] = s.High,
                ["original_max_position_embeddings"] = s.OriginalMax,
            };
        }
        return config;
    }

    private static string TorchDtype(DiskDType d) => d switch
    {
        DiskDType.F16 => "float16",
        DiskDType.BF16 => "bfloat16",
        _ => "float32",
    };

    private static List<SafetensorsWriter.Tensor> LlamaTensors(TinyModelOptions o, DeterministicRandom r)
    {
        int h = o.HiddenSize, headDim = o.HeadDimension ?? o.HiddenSize / o.HeadCount;
        int q = o.HeadCount * headDim, kv = o.KeyValueHeadCount * headDim, i = o.IntermediateSize;
        // Qwen2: q/k/v biases always, none on o_proj; Llama's attention_bias: q, k, v and o.
        var qkvBias = o.ModelType == "qwen2" || (o.ModelType == "llama" && o.AttentionBias);
        var outputBias = o.ModelType == "llama" && o.AttentionBias;
        var list = new List<SafetensorsWriter.Tensor> { Normal("model.embed_tokens.weight", [o.VocabularySize, h], r, 1f) };
        for (var layer = 0; layer < o.LayerCount; layer++)
        {
            var p = $"model.layers.{layer}.";
            list.Add(Normal(p + "input_layernorm.weight", [h], r, 0.1f, 1f));
            list.Add(Linear(p + "self_attn.q_proj.weight", q, h, r));
            list.Add(Linear(p + "self_attn.k_proj.weight", kv, h, r));
            list.Add(Linear(p + "self_attn.v_proj.weight", kv, h, r));
            if (qkvBias)
            {
                list.Add(Normal(p + "self_attn.q_proj.bias", [q], r, 0.1f));
                list.Add(Normal(p + "self_attn.k_proj.bias", [kv], r, 0.1f));
                list.Add(Normal(p + "self_attn.v_proj.bias", [kv], r, 0.1f));
            }
            list.Add(Linear(p + "self_attn.o_proj.weight", h, q, r));
            if (outputBias)
            {
                list.Add(Normal(p + "self_attn.o_proj.bias", [h], r, 0.1f));
            }
            list.Add(Normal(p + "post_attention_layernorm.weight", [h], r, 0.1f, 1f));
            list.Add(Linear(p + "mlp.gate_proj.weight", i, h, r));
            list.Add(Linear(p + "mlp.up_proj.weight", i, h, r));
            list.Add(Linear(p + "mlp.down_proj.weight", h, i, r));
        }
        list.Add(Normal("model.norm.weight", [h], r, 0.1f, 1f));
        if (!o.TieWordEmbeddings)
        {
            list.Add(Linear("lm_head.weight", o.VocabularySize, h, r));
        }
        return list;
    }

    private static List<SafetensorsWriter.Tensor> Gpt2Tensors(TinyModelOptions o, DeterministicRandom r)
    {
        int h = o.HiddenSize, i = o.IntermediateSize;
        var list = new List<SafetensorsWriter.Tensor>
        {
            Normal("wte.weight", [o.VocabularySize, h], r, 1f),
            Normal("wpe.weight", [o.MaxPositionEmbeddings, h], r, 0.5f),
        };
        for (var layer = 0; layer < o.LayerCount; layer++)
        {
            var p = $"h.{layer}.";
            list.Add(Normal(p + "ln_1.weight", [h], r, 0.1f, 1f));
            list.Add(Normal(p + "ln_1.bias", [h], r, 0.1f));
            // Conv1D stores (in, out).
            list.Add(Normal(p + "attn.c_attn.weight", [h, 3 * h], r, 1f / MathF.Sqrt(h)));
            list.Add(Normal(p + "attn.c_attn.bias", [3 * h], r, 0.1f));
            list.Add(Normal(p + "attn.c_proj.weight", [h, h], r, 1f / MathF.Sqrt(h)));
            list.Add(Normal(p + "attn.c_proj.bias", [h], r, 0.1f));
            list.Add(Normal(p + "ln_2.weight", [h], r, 0.1f, 1f));
            list.Add(Normal(p + "ln_2.bias", [h], r, 0.1f));
            list.Add(Normal(p + "mlp.c_fc.weight", [h, i], r, 1f / MathF.Sqrt(h)));
            list.Add(Normal(p + "mlp.c_fc.bias", [i], r, 0.1f));
            list.Add(Normal(p + "mlp.c_proj.weight", [i, h], r, 1f / MathF.Sqrt(i)));
            list.Add(Normal(p + "mlp.c_proj.bias", [h], r, 0.1f));
        }
        list.Add(Normal("ln_f.weight", [h], r, 0.1f, 1f));
        list.Add(Normal("ln_f.bias", [h], r, 0.1f));
        return list;
    }

    // Weights scaled by 1/sqrt(fan-in) keep activations near unit size through the layers, so every layer
    // and every position visibly changes the logits.
    private static SafetensorsWriter.Tensor Linear(string name, int outFeatures, int inFeatures, DeterministicRandom r) =>
        Normal(name, [outFeatures, inFeatures], r, 1f / MathF.Sqrt(inFeatures));

    private static SafetensorsWriter.Tensor Normal(string name, long[] shape, DeterministicRandom r, float std, float mean = 0f) =>
        new(name, shape, r.Normal(shape.Aggregate(1L, (a, b) => a * b), std, mean));

    private static void WriteWeights(string directory, List<SafetensorsWriter.Tensor> tensors, TinyModelOptions o)
    {
        if (o.ShardCount <= 1)
        {
            SafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), tensors, o.DType, new Dictionary<string, string> { ["format"] = "pt" });
            return;
        }
        var weightMap = new JsonObject();
        var perShard = (tensors.Count + o.ShardCount - 1) / o.ShardCount;
        for (var s = 0; s < o.ShardCount; s++)
        {
            var name = $"model-{s + 1:00000}-of-{o.ShardCount:00000}.safetensors";
            var part = tensors.Skip(s * perShard).Take(perShard).ToList();
            SafetensorsWriter.Write(Path.Combine(directory, name), part, o.DType, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var t in part)
            {
                weightMap[t.Name] = name;
            }
        }
        var index = new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = weightMap };
        File.WriteAllText(Path.Combine(directory, "model.safetensors.index.json"), index.ToJsonString());
    }
}
