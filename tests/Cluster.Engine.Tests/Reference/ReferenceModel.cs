using System.Text.Json;

namespace Cluster.Engine.Tests.Reference;

/// <summary>
/// An independent forward pass over a Hugging Face checkpoint directory, in double precision with plain loops,
/// following the transformers definitions (LlamaForCausalLM / Qwen2ForCausalLM / MistralForCausalLM and
/// GPT2LMHeadModel). It shares no code with the engine and uses no TorchSharp; it exists to check the engine.
/// </summary>
public static class ReferenceModel
{
    /// <summary>
    /// Reads config.json and model.safetensors (or the shards of model.safetensors.index.json) from the directory
    /// and returns the logits for every position, double[T][vocab]; token t sits at position t (no cache).
    /// </summary>
    public static double[][] Forward(string checkpointDirectory, IReadOnlyList<int> tokenIds)
    {
        ArgumentNullException.ThrowIfNull(checkpointDirectory);
        ArgumentNullException.ThrowIfNull(tokenIds);
        if (tokenIds.Count == 0)
        {
            throw new ArgumentException("At least one token is needed.", nameof(tokenIds));
        }
        string configPath = Path.Combine(checkpointDirectory, "config.json");
        if (!File.Exists(configPath))
        {
            throw new FileNotFoundException($"No config.json in {checkpointDirectory}.", configPath);
        }
        using var config = JsonDocument.Parse(File.ReadAllText(configPath));
        var root = config.RootElement;
        string modelType = Json.String(root, "model_type")
            ?? throw new KeyNotFoundException($"{configPath} has no \"model_type\".");
        return modelType switch
        {
            "llama" or "qwen2" or "mistral" => LlamaForward(LlamaSettings.Parse(root), CheckpointTensors.Open(checkpointDirectory), tokenIds),
            "gpt2" => Gpt2Forward(Gpt2Settings.Parse(root), CheckpointTensors.Open(checkpointDirectory), tokenIds),
            _ => throw new NotSupportedException(
                $"model_type '{modelType}' is not supported by the reference model (llama, qwen2, mistral, gpt2)."),
        };
    }

    // ---------------------------------------------------------------- Llama family

    internal static double[][] LlamaForward(LlamaSettings s, CheckpointTensors w, IReadOnlyList<int> tokens)
    {
        int t = tokens.Count;
        int h = s.HiddenSize;
        int qDim = s.Heads * s.HeadDim;
        int kvDim = s.KvHeads * s.HeadDim;
        var embed = w.Get("model.embed_tokens.weight").Expect(s.VocabSize, h);
        CheckTokens(tokens, s.VocabSize);

        var x = new double[t][];
        for (int i = 0; i < t; i++)
        {
            x[i] = Row(embed, tokens[i]);
        }

        double scale = 1.0 / Math.Sqrt(s.HeadDim);
        for (int layer = 0; layer < s.Layers; layer++)
        {
            string p = $"model.layers.{layer}.";
            var norm1 = w.Get(p + "input_layernorm.weight").Expect(h);
            var qW = w.Get(p + "self_attn.q_proj.weight").Expect(qDim, h);
            var kW = w.Get(p + "self_attn.k_proj.weight").Expect(kvDim, h);
            var vW = w.Get(p + "self_attn.v_proj.weight").Expect(kvDim, h);
            var oW = w.Get(p + "self_attn.o_proj.weight").Expect(h, qDim);
            var qB = s.QkvBias ? w.Get(p + "self_attn.q_proj.bias").Expect(qDim) : null;
            var kB = s.QkvBias ? w.Get(p + "self_attn.k_proj.bias").Expect(kvDim) : null;
            var vB = s.QkvBias ? w.Get(p + "self_attn.v_proj.bias").Expect(kvDim) : null;
            var oB = s.OutputBias ? w.Get(p + "self_attn.o_proj.bias").Expect(h) : null;
            var norm2 = w.Get(p + "post_attention_layernorm.weight").Expect(h);
            var gateW = w.Get(p + "mlp.gate_proj.weight").Expect(s.IntermediateSize, h);
            var upW = w.Get(p + "mlp.up_proj.weight").Expect(s.IntermediateSize, h);
            var downW = w.Get(p + "mlp.down_proj.weight").Expect(h, s.IntermediateSize);
            var gateB = s.MlpBias ? w.Get(p + "mlp.gate_proj.bias").Expect(s.IntermediateSize) : null;
            var upB = s.MlpBias ? w.Get(p + "mlp.up_proj.bias").Expect(s.IntermediateSize) : null;
            var downB = s.MlpBias ? w.Get(p + "mlp.down_proj.bias").Expect(h) : null;

            // Attention block: h = x + o_proj(attn(rope(q), rope(k), v)) over input_layernorm(x).
            var q = new double[t][];
            var k = new double[t][];
            var v = new double[t][];
            for (int i = 0; i < t; i++)
            {
                var n = RmsNorm(x[i], norm1.Data, s.RmsNormEps);
                q[i] = Linear(n, qW, qB);
                k[i] = Linear(n, kW, kB);
                v[i] = Linear(n, vW, vB);
                for (int head = 0; head < s.Heads; head++)
                {
                    ApplyRope(q[i].AsSpan(head * s.HeadDim, s.HeadDim), i, s.InvFreq);
                }
                for (int head = 0; head < s.KvHeads; head++)
                {
                    ApplyRope(k[i].AsSpan(head * s.HeadDim, s.HeadDim), i, s.InvFreq);
                }
            }
            var attention = CausalAttention(q, k, v, s.Heads, s.KvHeads, s.HeadDim, scale, s.SlidingWindowPerLayer[layer]);
            for (int i = 0; i < t; i++)
            {
                var o = Linear(attention[i], oW, oB);
                for (int j = 0; j < h; j++)
                {
                    x[i][j] += o[j];
                }
            }

            // MLP block: out = h + down(silu(gate(n)) * up(n)) over post_attention_layernorm(h).
            for (int i = 0; i < t; i++)
            {
                var n = RmsNorm(x[i], norm2.Data, s.RmsNormEps);
                var gate = Linear(n, gateW, gateB);
                var up = Linear(n, upW, upB);
                for (int j = 0; j < gate.Length; j++)
                {
                    gate[j] = Silu(gate[j]) * up[j];
                }
                var down = Linear(gate, downW, downB);
                for (int j = 0; j < h; j++)
                {
                    x[i][j] += down[j];
                }
            }
        }

        var finalNorm = w.Get("model.norm.weight").Expect(h);
        var lmHead = s.TieWordEmbeddings ? embed : w.Get("lm_head.weight").Expect(s.VocabSize, h);
        var logits = new double[t][];
        for (int i = 0; i < t; i++)
        {
            logits[i] = Linear(RmsNorm(x[i], finalNorm.Data, s.RmsNormEps), lmHead, null);
        }
        return logits;
    }

    // ---------------------------------------------------------------- GPT-2

    internal static double[][] Gpt2Forward(Gpt2Settings s, CheckpointTensors w, IReadOnlyList<int> tokens)
    {
        int t = tokens.Count;
        int h = s.Embd;
        if (h % s.Heads != 0)
        {
            throw new InvalidDataException($"n_embd {h} is not a multiple of n_head {s.Heads}.");
        }
        if (t > s.Positions)
        {
            throw new ArgumentException($"{t} tokens exceed n_positions {s.Positions}.", nameof(tokens));
        }
        int headDim = h / s.Heads;
        // Keys are either bare (GPT2Model's names) or carry GPT2LMHeadModel's "transformer." prefix.
        string prefix = w.Contains("wte.weight") ? "" : "transformer.";
        RefTensor Get(string name) => w.Get(prefix + name);

        var wte = Get("wte.weight").Expect(s.VocabSize, h);
        var wpe = Get("wpe.weight").Expect(s.Positions, h);
        CheckTokens(tokens, s.VocabSize);

        var x = new double[t][];
        for (int i = 0; i < t; i++)
        {
            x[i] = Row(wte, tokens[i]);
            var position = Row(wpe, i);
            for (int j = 0; j < h; j++)
            {
                x[i][j] += position[j];
            }
        }

        for (int layer = 0; layer < s.Layers; layer++)
        {
            string p = $"h.{layer}.";
            var ln1W = Get(p + "ln_1.weight").Expect(h);
            var ln1B = Get(p + "ln_1.bias").Expect(h);
            var attnW = Get(p + "attn.c_attn.weight").Expect(h, 3 * h);
            var attnB = Get(p + "attn.c_attn.bias").Expect(3 * h);
            var projW = Get(p + "attn.c_proj.weight").Expect(h, h);
            var projB = Get(p + "attn.c_proj.bias").Expect(h);
            var ln2W = Get(p + "ln_2.weight").Expect(h);
            var ln2B = Get(p + "ln_2.bias").Expect(h);
            var fcW = Get(p + "mlp.c_fc.weight").Expect(h, s.Inner);
            var fcB = Get(p + "mlp.c_fc.bias").Expect(s.Inner);
            var fcProjW = Get(p + "mlp.c_proj.weight").Expect(s.Inner, h);
            var fcProjB = Get(p + "mlp.c_proj.bias").Expect(h);

            // GPT2Attention: scores / sqrt(head_dim) if scale_attn_weights, then / (layer_idx + 1) if
            // scale_attn_by_inverse_layer_idx.
            double scale = (s.ScaleAttnWeights ? 1.0 / Math.Sqrt(headDim) : 1.0)
                / (s.ScaleByInverseLayerIdx ? layer + 1 : 1);
            var q = new double[t][];
            var k = new double[t][];
            var v = new double[t][];
            for (int i = 0; i < t; i++)
            {
                var qkv = Conv1D(LayerNorm(x[i], ln1W.Data, ln1B.Data, s.LayerNormEps), attnW, attnB);
                q[i] = qkv[..h];
                k[i] = qkv[h..(2 * h)];
                v[i] = qkv[(2 * h)..];
            }
            var attention = CausalAttention(q, k, v, s.Heads, s.Heads, headDim, scale, null);
            for (int i = 0; i < t; i++)
            {
                var o = Conv1D(attention[i], projW, projB);
                for (int j = 0; j < h; j++)
                {
                    x[i][j] += o[j];
                }
            }

            for (int i = 0; i < t; i++)
            {
                var inner = Conv1D(LayerNorm(x[i], ln2W.Data, ln2B.Data, s.LayerNormEps), fcW, fcB);
                for (int j = 0; j < inner.Length; j++)
                {
                    inner[j] = GeluNew(inner[j]);
                }
                var o = Conv1D(inner, fcProjW, fcProjB);
                for (int j = 0; j < h; j++)
                {
                    x[i][j] += o[j];
                }
            }
        }

        var lnFW = Get("ln_f.weight").Expect(h);
        var lnFB = Get("ln_f.bias").Expect(h);
        var lmHead = s.TieWordEmbeddings ? wte : w.Get("lm_head.weight").Expect(s.VocabSize, h);
        var logits = new double[t][];
        for (int i = 0; i < t; i++)
        {
            logits[i] = Linear(LayerNorm(x[i], lnFW.Data, lnFB.Data, s.LayerNormEps), lmHead, null);
        }
        return logits;
    }

    // ---------------------------------------------------------------- building blocks

    /// <summary>LlamaRMSNorm: x / sqrt(mean(x^2) + eps) * w.</summary>
    internal static double[] RmsNorm(ReadOnlySpan<double> x, ReadOnlySpan<double> weight, double eps)
    {
        double sumSquares = 0;
        foreach (double value in x)
        {
            sumSquares += value * value;
        }
        double inverse = 1.0 / Math.Sqrt(sumSquares / x.Length + eps);
        var result = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            result[i] = x[i] * inverse * weight[i];
        }
        return result;
    }

    /// <summary>nn.LayerNorm: (x - mean) / sqrt(biased variance + eps) * w + b.</summary>
    internal static double[] LayerNorm(ReadOnlySpan<double> x, ReadOnlySpan<double> weight, ReadOnlySpan<double> bias, double eps)
    {
        double mean = 0;
        foreach (double value in x)
        {
            mean += value;
        }
        mean /= x.Length;
        double variance = 0;
        foreach (double value in x)
        {
            variance += (value - mean) * (value - mean);
        }
        variance /= x.Length;
        double inverse = 1.0 / Math.Sqrt(variance + eps);
        var result = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            result[i] = (x[i] - mean) * inverse * weight[i] + bias[i];
        }
        return result;
    }

    /// <summary>nn.Linear: weight (out, in), y = x W^T + b.</summary>
    internal static double[] Linear(ReadOnlySpan<double> x, RefTensor weight, RefTensor? bias)
    {
        int outputs = weight.Shape[0];
        int inputs = weight.Shape[1];
        if (x.Length != inputs)
        {
            throw new ArgumentException($"Linear '{weight.Name}' {weight.ShapeText} applied to a vector of length {x.Length}.");
        }
        var result = new double[outputs];
        for (int o = 0; o < outputs; o++)
        {
            double sum = bias is null ? 0.0 : bias.Data[o];
            int row = o * inputs;
            for (int i = 0; i < inputs; i++)
            {
                sum += x[i] * weight.Data[row + i];
            }
            result[o] = sum;
        }
        return result;
    }

    /// <summary>transformers' Conv1D (GPT-2): weight (in, out), y = x W + b.</summary>
    internal static double[] Conv1D(ReadOnlySpan<double> x, RefTensor weight, RefTensor? bias)
    {
        int inputs = weight.Shape[0];
        int outputs = weight.Shape[1];
        if (x.Length != inputs)
        {
            throw new ArgumentException($"Conv1D '{weight.Name}' {weight.ShapeText} applied to a vector of length {x.Length}.");
        }
        var result = new double[outputs];
        for (int o = 0; o < outputs; o++)
        {
            double sum = bias is null ? 0.0 : bias.Data[o];
            for (int i = 0; i < inputs; i++)
            {
                sum += x[i] * weight.Data[i * outputs + o];
            }
            result[o] = sum;
        }
        return result;
    }

    internal static double Silu(double x) => x / (1.0 + Math.Exp(-x));

    /// <summary>"gelu_new": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    internal static double GeluNew(double x) =>
        0.5 * x * (1.0 + Math.Tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x)));

    /// <summary>Default RoPE: inv_freq[j] = 1 / theta^(2j / dim), j &lt; dim / 2.</summary>
    internal static double[] DefaultInvFreq(int headDim, double theta)
    {
        if (headDim % 2 != 0)
        {
            throw new InvalidDataException($"head_dim {headDim} is odd; RoPE needs an even head_dim.");
        }
        var result = new double[headDim / 2];
        for (int j = 0; j < result.Length; j++)
        {
            result[j] = 1.0 / Math.Pow(theta, 2.0 * j / headDim);
        }
        return result;
    }

    /// <summary>transformers' _compute_llama3_parameters applied to default inv_freq.</summary>
    internal static double[] Llama3InvFreq(
        IReadOnlyList<double> invFreq, double factor, double lowFreqFactor, double highFreqFactor, double originalMaxPositions)
    {
        double lowFreqWavelen = originalMaxPositions / lowFreqFactor;
        double highFreqWavelen = originalMaxPositions / highFreqFactor;
        var result = new double[invFreq.Count];
        for (int j = 0; j < result.Length; j++)
        {
            double f = invFreq[j];
            double wavelen = 2 * Math.PI / f;
            if (wavelen > lowFreqWavelen)
            {
                result[j] = f / factor;
            }
            else if (wavelen < highFreqWavelen)
            {
                result[j] = f;
            }
            else
            {
                double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                result[j] = (1 - smooth) * f / factor + smooth * f;
            }
        }
        return result;
    }

    /// <summary>
    /// Rotate-half RoPE on one head vector in place: angle_j = position * inv_freq[j], cos/sin duplicated over both
    /// halves, x' = x cos + rotate_half(x) sin with rotate_half(x) = concat(-x[half:], x[:half]).
    /// </summary>
    internal static void ApplyRope(Span<double> head, int position, IReadOnlyList<double> invFreq)
    {
        int half = invFreq.Count;
        if (head.Length != 2 * half)
        {
            throw new ArgumentException($"A head of {head.Length} values does not match {half} frequencies.");
        }
        for (int j = 0; j < half; j++)
        {
            double angle = position * invFreq[j];
            double cos = Math.Cos(angle);
            double sin = Math.Sin(angle);
            double first = head[j];
            double second = head[j + half];
            head[j] = first * cos - second * sin;
            head[j + half] = second * cos + first * sin;
        }
    }

    /// <summary>
    /// Causal multi-head attention: out_h(t) = sum_{s&lt;=t} softmax_s(q_h(t) . k_g(s) * scale) v_g(s), with
    /// query head h reading key/value head g = h / (heads / kvHeads) (transformers' repeat_kv).
    /// A sliding window w restricts s to t - w &lt; s.
    /// </summary>
    internal static double[][] CausalAttention(
        double[][] q, double[][] k, double[][] v, int heads, int kvHeads, int headDim, double scale, int? slidingWindow)
    {
        int t = q.Length;
        int group = heads / kvHeads;
        var output = new double[t][];
        var scores = new double[t];
        for (int i = 0; i < t; i++)
        {
            output[i] = new double[heads * headDim];
            int first = slidingWindow is int window ? Math.Max(0, i - window + 1) : 0;
            for (int head = 0; head < heads; head++)
            {
                int qOffset = head * headDim;
                int kvOffset = head / group * headDim;
                double max = double.NegativeInfinity;
                for (int j = first; j <= i; j++)
                {
                    double dot = 0;
                    for (int d = 0; d < headDim; d++)
                    {
                        dot += q[i][qOffset + d] * k[j][kvOffset + d];
                    }
                    scores[j] = dot * scale;
                    max = Math.Max(max, scores[j]);
                }
                double sum = 0;
                for (int j = first; j <= i; j++)
                {
                    scores[j] = Math.Exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int j = first; j <= i; j++)
                {
                    double weight = scores[j] / sum;
                    for (int d = 0; d < headDim; d++)
                    {
                        output[i][qOffset + d] += weight * v[j][kvOffset + d];
                    }
                }
            }
        }
        return output;
    }

    private static double[] Row(RefTensor matrix, int row)
    {
        int width = matrix.Shape[1];
        return matrix.Data.AsSpan(row * width, width).ToArray();
    }

    private static void CheckTokens(IReadOnlyList<int> tokens, int vocabSize)
    {
        for (int i = 0; i < tokens.Count; i++)
        {
            if (tokens[i] < 0 || tokens[i] >= vocabSize)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), $"Token {tokens[i]} at position {i} is outside the vocabulary of {vocabSize}.");
            }
        }
    }
}
