using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cluster.Engine.Tests.Reference;

/// <summary>A tensor to write: dtype, shape and raw little-endian bytes.</summary>
internal sealed record RawTensor(string DType, int[] Shape, byte[] Bytes)
{
    public static RawTensor F32(int[] shape, IReadOnlyList<double> values)
    {
        var bytes = new byte[values.Count * 4];
        for (int i = 0; i < values.Count; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), (float)values[i]);
        }
        return new RawTensor("F32", shape, bytes);
    }

    public static RawTensor Bits16(string dtype, int[] shape, params ushort[] bits)
    {
        var bytes = new byte[bits.Length * 2];
        for (int i = 0; i < bits.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), bits[i]);
        }
        return new RawTensor(dtype, shape, bytes);
    }
}

/// <summary>Tiny safetensors writer for the tests (the project's checkpoint writer is written elsewhere).</summary>
internal static class SafeTensorsWriter
{
    public static void Write(string path, IReadOnlyDictionary<string, RawTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is not null)
        {
            var meta = new JsonObject();
            foreach (var (key, value) in metadata)
            {
                meta[key] = value;
            }
            header["__metadata__"] = meta;
        }
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            header[name] = new JsonObject
            {
                ["dtype"] = tensor.DType,
                ["shape"] = new JsonArray(tensor.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + tensor.Bytes.Length),
            };
            offset += tensor.Bytes.Length;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padding = (8 - headerBytes.Length % 8) % 8; // the format pads the header with spaces
        using var stream = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)(headerBytes.Length + padding));
        stream.Write(length);
        stream.Write(headerBytes);
        for (int i = 0; i < padding; i++)
        {
            stream.WriteByte((byte)' ');
        }
        foreach (var tensor in tensors.Values)
        {
            stream.Write(tensor.Bytes);
        }
    }
}

/// <summary>A temporary checkpoint directory: config.json plus F32 tensors kept as doubles so tests can edit them.</summary>
internal sealed class TestCheckpoint : IDisposable
{
    private readonly Random _random;

    public TestCheckpoint(JsonObject config, int seed = 1)
    {
        Config = config;
        _random = new Random(seed);
        Directory = Path.Combine(Path.GetTempPath(), "reference-model-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }
    public JsonObject Config { get; }
    public Dictionary<string, (int[] Shape, double[] Data)> Tensors { get; } = new(StringComparer.Ordinal);

    public double[] Random(string name, params int[] shape)
    {
        var data = new double[shape.Aggregate(1, (a, b) => a * b)];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = Math.Round(_random.NextDouble() * 2 - 1, 3); // exactly representable enough; F32 round trip is compared in double anyway
        }
        Tensors[name] = (shape, data);
        return data;
    }

    public double[] Fill(string name, double value, params int[] shape)
    {
        var data = Enumerable.Repeat(value, shape.Aggregate(1, (a, b) => a * b)).ToArray();
        Tensors[name] = (shape, data);
        return data;
    }

    public double[] Set(string name, int[] shape, double[] data)
    {
        Tensors[name] = (shape, data);
        return data;
    }

    /// <summary>The value as stored (F32), for hand computations.</summary>
    public double[] Stored(string name) => Tensors[name].Data.Select(v => (double)(float)v).ToArray();

    /// <summary>Writes config.json and model.safetensors (or <paramref name="shards"/> shards with an index).</summary>
    public string Save(int shards = 1)
    {
        File.WriteAllText(Path.Combine(Directory, "config.json"), Config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        foreach (string stale in System.IO.Directory.GetFiles(Directory, "model*.safetensors*"))
        {
            File.Delete(stale);
        }
        var all = Tensors.ToDictionary(kv => kv.Key, kv => RawTensor.F32(kv.Value.Shape, kv.Value.Data), StringComparer.Ordinal);
        if (shards == 1)
        {
            SafeTensorsWriter.Write(Path.Combine(Directory, "model.safetensors"), all, new Dictionary<string, string> { ["format"] = "pt" });
            return Directory;
        }
        var names = all.Keys.ToList();
        var weightMap = new JsonObject();
        for (int shard = 0; shard < shards; shard++)
        {
            string file = $"model-{shard + 1:D5}-of-{shards:D5}.safetensors";
            var part = names.Where((_, i) => i % shards == shard).ToDictionary(n => n, n => all[n], StringComparer.Ordinal);
            SafeTensorsWriter.Write(Path.Combine(Directory, file), part);
            foreach (string name in part.Keys)
            {
                weightMap[name] = file;
            }
        }
        var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = weightMap };
        File.WriteAllText(Path.Combine(Directory, "model.safetensors.index.json"), index.ToJsonString());
        return Directory;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    // ------------------------------------------------------------ tiny model factories

    public static JsonObject LlamaConfig(
        int hidden = 8, int intermediate = 12, int layers = 2, int heads = 4, int kvHeads = 2, int vocab = 11,
        string modelType = "llama", bool tie = false, double ropeTheta = 10000.0) => new()
    {
        ["architectures"] = new JsonArray(modelType switch { "qwen2" => "Qwen2ForCausalLM", "mistral" => "MistralForCausalLM", _ => "LlamaForCausalLM" }),
        ["model_type"] = modelType,
        ["hidden_size"] = hidden,
        ["intermediate_size"] = intermediate,
        ["num_hidden_layers"] = layers,
        ["num_attention_heads"] = heads,
        ["num_key_value_heads"] = kvHeads,
        ["vocab_size"] = vocab,
        ["rms_norm_eps"] = 1e-5,
        ["rope_theta"] = ropeTheta,
        ["hidden_act"] = "silu",
        ["max_position_embeddings"] = 64,
        ["tie_word_embeddings"] = tie,
    };

    /// <summary>Random Llama-family weights for the config (biases where the model type has them).</summary>
    public void RandomLlamaWeights()
    {
        var c = Config;
        int h = (int)c["hidden_size"]!, inter = (int)c["intermediate_size"]!, layers = (int)c["num_hidden_layers"]!;
        int heads = (int)c["num_attention_heads"]!, kv = (int)c["num_key_value_heads"]!, vocab = (int)c["vocab_size"]!;
        int headDim = c["head_dim"] is JsonNode hd ? (int)hd : h / heads;
        string type = (string)c["model_type"]!;
        bool qkvBias = type == "qwen2" || (type == "llama" && c["attention_bias"] is JsonNode b && (bool)b);
        Random("model.embed_tokens.weight", vocab, h);
        for (int i = 0; i < layers; i++)
        {
            string p = $"model.layers.{i}.";
            Random(p + "input_layernorm.weight", h);
            Random(p + "self_attn.q_proj.weight", heads * headDim, h);
            Random(p + "self_attn.k_proj.weight", kv * headDim, h);
            Random(p + "self_attn.v_proj.weight", kv * headDim, h);
            Random(p + "self_attn.o_proj.weight", h, heads * headDim);
            if (qkvBias)
            {
                Random(p + "self_attn.q_proj.bias", heads * headDim);
                Random(p + "self_attn.k_proj.bias", kv * headDim);
                Random(p + "self_attn.v_proj.bias", kv * headDim);
            }
            Random(p + "post_attention_layernorm.weight", h);
            Random(p + "mlp.gate_proj.weight", inter, h);
            Random(p + "mlp.up_proj.weight", inter, h);
            Random(p + "mlp.down_proj.weight", h, inter);
        }
        Random("model.norm.weight", h);
        if (!(bool)c["tie_word_embeddings"]!)
        {
            Random("lm_head.weight", vocab, h);
        }
    }

    public static JsonObject Gpt2Config(int embd = 8, int layers = 2, int heads = 2, int positions = 16, int vocab = 13, int? inner = null) => new()
    {
        ["architectures"] = new JsonArray("GPT2LMHeadModel"),
        ["model_type"] = "gpt2",
        ["n_embd"] = embd,
        ["n_layer"] = layers,
        ["n_head"] = heads,
        ["n_positions"] = positions,
        ["n_ctx"] = positions,
        ["n_inner"] = inner,
        ["vocab_size"] = vocab,
        ["layer_norm_epsilon"] = 1e-5,
        ["activation_function"] = "gelu_new",
    };

    public void RandomGpt2Weights(string prefix = "")
    {
        var c = Config;
        int h = (int)c["n_embd"]!, layers = (int)c["n_layer"]!, positions = (int)c["n_positions"]!, vocab = (int)c["vocab_size"]!;
        int inner = c["n_inner"] is JsonNode n ? (int)n : 4 * h;
        Random(prefix + "wte.weight", vocab, h);
        Random(prefix + "wpe.weight", positions, h);
        for (int i = 0; i < layers; i++)
        {
            string p = $"{prefix}h.{i}.";
            Random(p + "ln_1.weight", h);
            Random(p + "ln_1.bias", h);
            Random(p + "attn.c_attn.weight", h, 3 * h);
            Random(p + "attn.c_attn.bias", 3 * h);
            Random(p + "attn.c_proj.weight", h, h);
            Random(p + "attn.c_proj.bias", h);
            Random(p + "ln_2.weight", h);
            Random(p + "ln_2.bias", h);
            Random(p + "mlp.c_fc.weight", h, inner);
            Random(p + "mlp.c_fc.bias", inner);
            Random(p + "mlp.c_proj.weight", inner, h);
            Random(p + "mlp.c_proj.bias", h);
        }
        Random(prefix + "ln_f.weight", h);
        Random(prefix + "ln_f.bias", h);
    }
}
