using System.Text.Json;

namespace Cluster.PeerBenchmark.Gguf;

/// <summary>
/// The config.json fields of a Hugging Face Llama checkpoint the GGUF converter needs. Read on its own (not through
/// the engine's reader), so the peer's view of the model is a second reading of the same file.
/// </summary>
public sealed record HfLlamaConfig(
    int VocabularySize,
    int HiddenSize,
    int LayerCount,
    int HeadCount,
    int KeyValueHeadCount,
    int HeadDimension,
    int IntermediateSize,
    int ContextLength,
    float RmsNormEpsilon,
    float RopeTheta,
    bool TieWordEmbeddings,
    int? BosTokenId,
    int? EosTokenId)
{
    public static HfLlamaConfig Read(string checkpointDirectory)
    {
        var path = Path.Combine(checkpointDirectory, "config.json");
        if (!File.Exists(path))
        {
            throw new GgufConversionException($"{path} does not exist: a Hugging Face checkpoint directory needs config.json.");
        }
        using var doc = ParseJson(path);
        var root = doc.RootElement;
        var modelType = OptionalString(root, "model_type");
        if (modelType is not null and not ("llama" or "mistral"))
        {
            throw new GgufConversionException($"{path}: model_type is \"{modelType}\"; the GGUF converter writes the llama architecture only (llama, mistral).");
        }
        if (root.TryGetProperty("rope_scaling", out var scaling) && scaling.ValueKind != JsonValueKind.Null)
        {
            throw new GgufConversionException($"{path}: rope_scaling is set ({scaling.GetRawText()}); the GGUF converter does not write RoPE scaling.");
        }
        if (root.TryGetProperty("attention_bias", out var bias) && bias.ValueKind == JsonValueKind.True)
        {
            throw new GgufConversionException($"{path}: attention_bias is true; the GGUF converter does not write attention biases.");
        }
        var hidden = RequiredInt(root, "hidden_size", path);
        var heads = RequiredInt(root, "num_attention_heads", path);
        var headDim = OptionalInt(root, "head_dim", path) ?? hidden / heads;
        if (headDim % 2 != 0)
        {
            throw new GgufConversionException($"{path}: head_dim {headDim} is odd; rotary embeddings pair dimensions, so it must be even.");
        }
        var kvHeads = OptionalInt(root, "num_key_value_heads", path) ?? heads;
        if (heads % kvHeads != 0)
        {
            throw new GgufConversionException($"{path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}.");
        }
        return new HfLlamaConfig(
            VocabularySize: RequiredInt(root, "vocab_size", path),
            HiddenSize: hidden,
            LayerCount: RequiredInt(root, "num_hidden_layers", path),
            HeadCount: heads,
            KeyValueHeadCount: kvHeads,
            HeadDimension: headDim,
            IntermediateSize: RequiredInt(root, "intermediate_size", path),
            ContextLength: RequiredInt(root, "max_position_embeddings", path),
            RmsNormEpsilon: (float)RequiredDouble(root, "rms_norm_eps", path),
            RopeTheta: (float)(OptionalDouble(root, "rope_theta", path) ?? 10000.0),
            TieWordEmbeddings: root.TryGetProperty("tie_word_embeddings", out var tie) && tie.ValueKind == JsonValueKind.True,
            BosTokenId: OptionalInt(root, "bos_token_id", path),
            EosTokenId: OptionalInt(root, "eos_token_id", path));
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new GgufConversionException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    private static int RequiredInt(JsonElement root, string key, string path) =>
        OptionalInt(root, key, path) ?? throw new GgufConversionException($"{path} has no \"{key}\", which the GGUF converter needs.");

    private static double RequiredDouble(JsonElement root, string key, string path) =>
        OptionalDouble(root, key, path) ?? throw new GgufConversionException($"{path} has no \"{key}\", which the GGUF converter needs.");

    private static int? OptionalInt(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        // eos_token_id may be a list in newer checkpoints; the first is the one GGUF records.
        if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() > 0)
        {
            value = value[0];
        }
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var n) || n < 0)
        {
            throw new GgufConversionException($"{path}: \"{key}\" is {value.GetRawText()}; it must be a non-negative integer.");
        }
        return n;
    }

    private static double? OptionalDouble(JsonElement root, string key, string path)
    {
        if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (value.ValueKind != JsonValueKind.Number || !(value.GetDouble() > 0))
        {
            throw new GgufConversionException($"{path}: \"{key}\" is {value.GetRawText()}; it must be a positive number.");
        }
        return value.GetDouble();
    }

    private static string? OptionalString(JsonElement root, string key) =>
        root.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>A checkpoint the GGUF converter cannot convert; the message names the file, the field and the value.</summary>
public sealed class GgufConversionException(string message, Exception? inner = null) : Exception(message, inner);
