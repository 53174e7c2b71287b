using System.Buffers.Binary;
using Cluster.Engine.Configuration;
using Cluster.Engine.Weights;

namespace Cluster.PeerBenchmark.Gguf;

/// <summary>
/// Converts a Hugging Face Llama checkpoint (config.json + *.safetensors) into a GGUF file llama.cpp loads: the
/// llama architecture's metadata, its tensor names, q and k rows permuted into llama.cpp's rotary layout, and a
/// tokenizer section (<see cref="GgufVocabulary"/>). Tied embeddings write no output.weight: llama.cpp then uses
/// token_embd as the LM head, as the Hugging Face model does.
/// </summary>
public static class LlamaGgufConverter
{
    /// <summary>Writes <paramref name="outputPath"/> from <paramref name="checkpointDirectory"/>; matrices in <paramref name="weightType"/>, norms in fp32.</summary>
    public static void Convert(string checkpointDirectory, string outputPath, GgufWeightType weightType)
    {
        var config = HfLlamaConfig.Read(checkpointDirectory);
        CheckpointWeights checkpoint;
        try
        {
            checkpoint = CheckpointWeights.Open(checkpointDirectory);
        }
        catch (CheckpointException e)
        {
            throw new GgufConversionException(e.Message, e);
        }

        var gguf = new GgufWriter();
        WriteMetadata(gguf, config, weightType, Path.GetFileName(Path.TrimEndingDirectorySeparator(checkpointDirectory)));
        GgufVocabulary.Write(gguf, checkpointDirectory, config);

        var plan = TensorPlan(config, checkpoint);
        foreach (var (entry, ggufName, permuteHeads) in plan)
        {
            var type = entry.Shape.Length == 1 ? GgmlType.F32 : weightType.ToGgml();
            gguf.AddTensor(ggufName, entry.Shape, type, () =>
            {
                var values = ReadAsFloat32(entry);
                if (permuteHeads is { } heads)
                {
                    values = PermuteForRotary(values, heads, entry.Shape[0], entry.Shape[1]);
                }
                return GgufWriter.Encode(values, type);
            });
        }
        gguf.Write(outputPath);
    }

    private static void WriteMetadata(GgufWriter gguf, HfLlamaConfig c, GgufWeightType weightType, string name)
    {
        gguf.Add("general.architecture", "llama");
        gguf.Add("general.name", name);
        gguf.Add("general.file_type", weightType.FileType());
        gguf.Add("llama.vocab_size", (uint)c.VocabularySize);
        gguf.Add("llama.context_length", (uint)c.ContextLength);
        gguf.Add("llama.embedding_length", (uint)c.HiddenSize);
        gguf.Add("llama.block_count", (uint)c.LayerCount);
        gguf.Add("llama.feed_forward_length", (uint)c.IntermediateSize);
        gguf.Add("llama.attention.head_count", (uint)c.HeadCount);
        gguf.Add("llama.attention.head_count_kv", (uint)c.KeyValueHeadCount);
        gguf.Add("llama.attention.layer_norm_rms_epsilon", c.RmsNormEpsilon);
        gguf.Add("llama.rope.freq_base", c.RopeTheta);
        gguf.Add("llama.rope.dimension_count", (uint)c.HeadDimension);
        // llama.cpp assumes head_dim = width / heads unless told otherwise.
        if (c.HeadDimension != c.HiddenSize / c.HeadCount)
        {
            gguf.Add("llama.attention.key_length", (uint)c.HeadDimension);
            gguf.Add("llama.attention.value_length", (uint)c.HeadDimension);
        }
    }

    /// <summary>Every checkpoint tensor with its GGUF name and, for q and k, the head count to permute by; checked against the config.</summary>
    private static List<(TensorEntry Entry, string GgufName, int? PermuteHeads)> TensorPlan(HfLlamaConfig c, CheckpointWeights checkpoint)
    {
        var plan = new List<(TensorEntry, string, int?)>();
        var expected = ExpectedShapes(c);
        foreach (var entry in checkpoint.Entries.OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            if (entry.Name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal))
            {
                continue; // recomputed from rope_theta, as every loader does
            }
            if (entry.Name == "lm_head.weight" && c.TieWordEmbeddings)
            {
                continue; // tied: llama.cpp reuses token_embd
            }
            if (!expected.TryGetValue(entry.Name, out var target))
            {
                throw new GgufConversionException($"Tensor \"{entry.Name}\" in {entry.FilePath} has no llama GGUF name; the converter writes Llama weights without biases only.");
            }
            if (!entry.Shape.SequenceEqual(target.Shape))
            {
                throw new GgufConversionException($"Tensor \"{entry.Name}\" in {entry.FilePath} has shape {entry.ShapeText}; config.json implies {TensorEntry.ShapeToText(target.Shape)}.");
            }
            plan.Add((entry, target.GgufName, target.PermuteHeads));
        }
        var missing = expected.Keys.Except(plan.Select(p => p.Item1.Name)).Where(n => n != "lm_head.weight" || !c.TieWordEmbeddings).Order().ToList();
        if (missing.Count > 0)
        {
            throw new GgufConversionException($"The checkpoint in {checkpoint.Directory} lacks {missing.Count} tensor(s) config.json implies, first \"{missing[0]}\".");
        }
        return plan;
    }

    private static Dictionary<string, (string GgufName, long[] Shape, int? PermuteHeads)> ExpectedShapes(HfLlamaConfig c)
    {
        long h = c.HiddenSize, q = (long)c.HeadCount * c.HeadDimension, kv = (long)c.KeyValueHeadCount * c.HeadDimension, i = c.IntermediateSize;
        var map = new Dictionary<string, (string, long[], int?)>(StringComparer.Ordinal)
        {
            ["model.embed_tokens.weight"] = ("token_embd.weight", [c.VocabularySize, h], null),
            ["model.norm.weight"] = ("output_norm.weight", [h], null),
            ["lm_head.weight"] = ("output.weight", [c.VocabularySize, h], null),
        };
        for (var layer = 0; layer < c.LayerCount; layer++)
        {
            string hf = $"model.layers.{layer}.", gg = $"blk.{layer}.";
            map[hf + "input_layernorm.weight"] = (gg + "attn_norm.weight", [h], null);
            map[hf + "self_attn.q_proj.weight"] = (gg + "attn_q.weight", [q, h], c.HeadCount);
            map[hf + "self_attn.k_proj.weight"] = (gg + "attn_k.weight", [kv, h], c.KeyValueHeadCount);
            map[hf + "self_attn.v_proj.weight"] = (gg + "attn_v.weight", [kv, h], null);
            map[hf + "self_attn.o_proj.weight"] = (gg + "attn_output.weight", [h, q], null);
            map[hf + "post_attention_layernorm.weight"] = (gg + "ffn_norm.weight", [h], null);
            map[hf + "mlp.gate_proj.weight"] = (gg + "ffn_gate.weight", [i, h], null);
            map[hf + "mlp.up_proj.weight"] = (gg + "ffn_up.weight", [i, h], null);
            map[hf + "mlp.down_proj.weight"] = (gg + "ffn_down.weight", [h, i], null);
        }
        return map;
    }

    /// <summary>
    /// Hugging Face stores each head's rotary pairs as (first half, second half) of the head; llama.cpp's rope rotates
    /// adjacent pairs. Row (head, half, j) moves to (head, j, half): <c>reshape(heads, 2, d/2, in).swapaxes(1, 2)</c>.
    /// </summary>
    public static float[] PermuteForRotary(float[] rows, int heads, long outFeatures, long inFeatures)
    {
        var headDim = outFeatures / heads;
        var half = headDim / 2;
        var result = new float[rows.Length];
        for (long head = 0; head < heads; head++)
        {
            for (long j = 0; j < half; j++)
            {
                for (long part = 0; part < 2; part++)
                {
                    var from = head * headDim + part * half + j; // (head, part, j) in Hugging Face's order
                    var to = head * headDim + j * 2 + part;      // (head, j, part) in llama.cpp's order
                    Array.Copy(rows, from * inFeatures, result, to * inFeatures, inFeatures);
                }
            }
        }
        return result;
    }

    private static float[] ReadAsFloat32(TensorEntry entry)
    {
        var bytes = new byte[entry.ByteLength];
        using (var handle = File.OpenHandle(entry.FilePath, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            var done = 0;
            while (done < bytes.Length)
            {
                var read = RandomAccess.Read(handle, bytes.AsSpan(done), entry.FileOffset + done);
                if (read == 0)
                {
                    throw new GgufConversionException($"{entry.FilePath} ends inside tensor \"{entry.Name}\".");
                }
                done += read;
            }
        }
        var count = entry.Shape.Aggregate(1L, (a, b) => a * b);
        var values = new float[count];
        switch (entry.DType)
        {
            case "F32":
                for (var i = 0; i < count; i++)
                {
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(4 * i));
                }
                break;
            case "F16":
                for (var i = 0; i < count; i++)
                {
                    values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(bytes.AsSpan(2 * i));
                }
                break;
            case "BF16":
                for (var i = 0; i < count; i++)
                {
                    values[i] = BFloat16.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(2 * i)));
                }
                break;
            default:
                throw new GgufConversionException($"Tensor \"{entry.Name}\" in {entry.FilePath} has dtype {entry.DType}; the converter reads F32, F16 and BF16.");
        }
        return values;
    }
}
