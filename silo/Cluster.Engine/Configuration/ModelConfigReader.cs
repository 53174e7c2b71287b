using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cluster.Engine.Configuration;

/// <summary>Reads Hugging Face <c>config.json</c> files into <see cref="ModelConfig"/>.</summary>
public static class ModelConfigReader
{
    private static readonly string[] LlamaFamilyTypes = ["llama", "qwen2", "mistral"];

    public static ModelConfig ReadFromDirectory(string checkpointDirectory)
    {
        var path = Path.Combine(checkpointDirectory, "config.json");
        if (!File.Exists(path))
        {
            throw new CheckpointException($"{path} not found: a Hugging Face checkpoint directory holds config.json next to its *.safetensors files.");
        }
        return Parse(File.ReadAllText(path), path);
    }

    public static ModelConfig Parse(string json, string sourceName = "config.json")
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new CheckpointException($"{sourceName}: expected a JSON object at the top level.");
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{sourceName} is not valid JSON: {e.Message}", e);
        }

        var modelType = root["model_type"]?.GetValue<string>()
            ?? throw new CheckpointException($"{sourceName} has no \"model_type\"; supported: {string.Join(", ", LlamaFamilyTypes)}, gpt2.");
        var reader = new Fields(root, sourceName);
        if (modelType == "gpt2")
        {
            return ReadGpt2(reader, modelType);
        }
        if (LlamaFamilyTypes.Contains(modelType))
        {
            return ReadLlama(reader, modelType);
        }
        throw new CheckpointException($"{sourceName}: unknown architecture model_type \"{modelType}\"; supported: {string.Join(", ", LlamaFamilyTypes)}, gpt2.");
    }

    private static ModelConfig ReadLlama(Fields f, string modelType)
    {
        var hidden = f.Int("hidden_size");
        var heads = f.Int("num_attention_heads");
        var kvHeads = f.OptionalInt("num_key_value_heads") ?? heads;
        var headDim = f.OptionalInt("head_dim") ?? hidden / heads;
        var attentionBias = f.OptionalBool("attention_bias") ?? false;
        if (f.OptionalBool("mlp_bias") == true)
        {
            throw new CheckpointException($"{f.Source}: mlp_bias = true (biases on gate/up/down projections) is not supported.");
        }
        if (f.OptionalString("hidden_act") is { } act && act != "silu")
        {
            throw new CheckpointException($"{f.Source}: hidden_act \"{act}\" is not supported for {modelType}; supported: silu.");
        }
        if (heads % kvHeads != 0)
        {
            throw new CheckpointException($"{f.Source}: num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kvHeads}).");
        }
        return new ModelConfig
        {
            Architecture = ModelArchitecture.Llama,
            ModelType = modelType,
            VocabularySize = f.Int("vocab_size"),
            HiddenSize = hidden,
            LayerCount = f.Int("num_hidden_layers"),
            HeadCount = heads,
            KeyValueHeadCount = kvHeads,
            HeadDimension = headDim,
            IntermediateSize = f.Int("intermediate_size"),
            MaxPositionEmbeddings = f.Int("max_position_embeddings"),
            NormEpsilon = f.OptionalDouble("rms_norm_eps") ?? 1e-6,
            RopeTheta = f.OptionalDouble("rope_theta") ?? 10000.0,
            RopeScaling = ReadRopeScaling(f),
            TieWordEmbeddings = f.OptionalBool("tie_word_embeddings") ?? false,
            // Qwen2 always has q/k/v biases (never an o_proj bias) and its config does not say so;
            // Llama's attention_bias puts biases on q, k, v and o; Mistral has none.
            QkvBias = modelType == "qwen2" || (modelType == "llama" && attentionBias),
            OutputProjectionBias = modelType == "llama" && attentionBias,
            SlidingWindow = SlidingWindow(f, modelType),
            BosTokenId = f.OptionalInt("bos_token_id"),
            EosTokenIds = f.IntOrIntList("eos_token_id"),
            TorchDtype = f.OptionalString("torch_dtype"),
        };
    }

    private static ModelConfig ReadGpt2(Fields f, string modelType)
    {
        var hidden = f.Int("n_embd");
        var heads = f.Int("n_head");
        if (f.OptionalString("activation_function") is { } act && act is not ("gelu_new" or "gelu_pytorch_tanh"))
        {
            throw new CheckpointException($"{f.Source}: activation_function \"{act}\" is not supported for gpt2; supported: gelu_new, gelu_pytorch_tanh.");
        }
        return new ModelConfig
        {
            Architecture = ModelArchitecture.Gpt2,
            ModelType = modelType,
            VocabularySize = f.Int("vocab_size"),
            HiddenSize = hidden,
            LayerCount = f.Int("n_layer"),
            HeadCount = heads,
            KeyValueHeadCount = heads,
            HeadDimension = hidden / heads,
            IntermediateSize = f.OptionalInt("n_inner") ?? 4 * hidden,
            MaxPositionEmbeddings = f.Int("n_positions"),
            NormEpsilon = f.OptionalDouble("layer_norm_epsilon") ?? 1e-5,
            TieWordEmbeddings = true,
            BosTokenId = f.OptionalInt("bos_token_id"),
            EosTokenIds = f.IntOrIntList("eos_token_id"),
            TorchDtype = f.OptionalString("torch_dtype"),
        };
    }

    // Mistral windows every layer when sliding_window is set (its config class defaults to 4096 when the key is
    // absent); Qwen2 only when use_sliding_window is true.
    private static int? SlidingWindow(Fields f, string modelType) => modelType switch
    {
        "mistral" => f.Root.ContainsKey("sliding_window") ? f.OptionalInt("sliding_window") : 4096,
        "qwen2" when f.OptionalBool("use_sliding_window") == true => f.OptionalInt("sliding_window"),
        _ => null,
    };

    private static RopeScaling? ReadRopeScaling(Fields f)
    {
        if (f.Root["rope_scaling"] is not JsonObject scaling)
        {
            return null;
        }
        var type = (scaling["rope_type"] ?? scaling["type"])?.GetValue<string>();
        if (type is "default" or null)
        {
            return null;
        }
        if (type != "llama3")
        {
            throw new CheckpointException($"{f.Source}: rope_scaling type \"{type}\" is not supported; supported: llama3.");
        }
        var s = new Fields(scaling, f.Source + " rope_scaling");
        return new RopeScaling(
            s.Double("factor"),
            s.Double("low_freq_factor"),
            s.Double("high_freq_factor"),
            s.Int("original_max_position_embeddings"));
    }

    /// <summary>Typed access to config fields with errors that name the file and the field.</summary>
    private sealed record Fields(JsonObject Root, string Source)
    {
        public int Int(string name) => OptionalInt(name) ?? throw Missing(name);
        public double Double(string name) => OptionalDouble(name) ?? throw Missing(name);

        public int? OptionalInt(string name) => Read(name, n => n.GetValue<int>());
        public double? OptionalDouble(string name) => Read(name, n => n.GetValue<double>());
        public bool? OptionalBool(string name) => Read(name, n => n.GetValue<bool>());
        public string? OptionalString(string name) => Read(name, n => n.GetValue<string>());

        public IReadOnlyList<int> IntOrIntList(string name) => Root[name] switch
        {
            null => [],
            JsonArray array => array.Select(n => n!.GetValue<int>()).ToArray(),
            var n => [n.GetValue<int>()],
        };

        private T? Read<T>(string name, Func<JsonNode, T> get) where T : struct
        {
            var node = Root[name];
            if (node is null)
            {
                return null;
            }
            try
            {
                return get(node);
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            {
                throw new CheckpointException($"{Source}: field \"{name}\" has value {node.ToJsonString()}, expected a {typeof(T).Name}.", e);
            }
        }

        private string? Read(string name, Func<JsonNode, string> get)
        {
            var node = Root[name];
            return node is null ? null : get(node);
        }

        private CheckpointException Missing(string name) => new($"{Source} lacks the required field \"{name}\".");
    }
}
