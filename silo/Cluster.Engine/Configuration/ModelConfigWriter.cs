using System.Text.Json;

namespace Cluster.Engine.Configuration;

/// <summary>Writes a Llama-family <see cref="ModelConfig"/> as the config.json Hugging Face's LlamaConfig saves.</summary>
public static class ModelConfigWriter
{
    public static void Write(string path, ModelConfig config)
    {
        if (config.Architecture != ModelArchitecture.Llama || config.RopeScaling is not null || config.SlidingWindow is not null)
        {
            throw new ArgumentException("Only plain Llama configs (no RoPE scaling, no sliding window) are written.", nameof(config));
        }
        using var file = File.Create(path);
        using var w = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true });
        w.WriteStartObject();
        w.WriteStartArray("architectures");
        w.WriteStringValue("LlamaForCausalLM");
        w.WriteEndArray();
        w.WriteString("model_type", config.ModelType);
        w.WriteNumber("vocab_size", config.VocabularySize);
        w.WriteNumber("hidden_size", config.HiddenSize);
        w.WriteNumber("intermediate_size", config.IntermediateSize);
        w.WriteNumber("num_hidden_layers", config.LayerCount);
        w.WriteNumber("num_attention_heads", config.HeadCount);
        w.WriteNumber("num_key_value_heads", config.KeyValueHeadCount);
        w.WriteNumber("head_dim", config.HeadDimension);
        w.WriteNumber("max_position_embeddings", config.MaxPositionEmbeddings);
        w.WriteNumber("rms_norm_eps", config.NormEpsilon);
        w.WriteNumber("rope_theta", config.RopeTheta);
        w.WriteString("hidden_act", "silu");
        w.WriteBoolean("attention_bias", false);
        w.WriteBoolean("mlp_bias", false);
        w.WriteBoolean("tie_word_embeddings", config.TieWordEmbeddings);
        w.WriteNumber("initializer_range", 0.02);
        if (config.BosTokenId is { } bos)
        {
            w.WriteNumber("bos_token_id", bos);
        }
        if (config.EosTokenIds.Count == 1)
        {
            w.WriteNumber("eos_token_id", config.EosTokenIds[0]);
        }
        else if (config.EosTokenIds.Count > 1)
        {
            w.WriteStartArray("eos_token_id");
            foreach (var id in config.EosTokenIds)
            {
                w.WriteNumberValue(id);
            }
            w.WriteEndArray();
        }
        if (config.TorchDtype is { } dtype)
        {
            w.WriteString("torch_dtype", dtype);
        }
        w.WriteEndObject();
    }
}
