using System.Text.RegularExpressions;
using Cluster.Engine.Configuration;
using Cluster.Engine.Weights;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>Llama 2/3, TinyLlama, SmolLM2, Qwen2 (q/k/v biases), Mistral: Hugging Face LlamaForCausalLM keys.</summary>
public sealed partial class LlamaFamily(ModelConfig config) : ModelFamily(config)
{
    private const string EmbedTokens = "model.embed_tokens.weight";
    private const string LmHead = "lm_head.weight";
    private const string FinalNorm = "model.norm.weight";

    public override bool UsesRotaryEmbedding => true;

    public override IReadOnlyList<WeightSpec> ExpectedWeights()
    {
        var c = Config;
        long h = c.HiddenSize, q = c.HeadCount * c.HeadDimension, kv = c.KeyValueHeadCount * c.HeadDimension, i = c.IntermediateSize;
        var specs = new List<WeightSpec> { new(EmbedTokens, [c.VocabularySize, h], WeightPart.Embedding) };
        for (var layer = 0; layer < c.LayerCount; layer++)
        {
            var p = $"model.layers.{layer}.";
            specs.Add(new(p + "input_layernorm.weight", [h], WeightPart.Layer, layer));
            specs.Add(new(p + "self_attn.q_proj.weight", [q, h], WeightPart.Layer, layer));
            specs.Add(new(p + "self_attn.k_proj.weight", [kv, h], WeightPart.Layer, layer));
            specs.Add(new(p + "self_attn.v_proj.weight", [kv, h], WeightPart.Layer, layer));
            if (c.QkvBias)
            {
                specs.Add(new(p + "self_attn.q_proj.bias", [q], WeightPart.Layer, layer));
                specs.Add(new(p + "self_attn.k_proj.bias", [kv], WeightPart.Layer, layer));
                specs.Add(new(p + "self_attn.v_proj.bias", [kv], WeightPart.Layer, layer));
            }
            specs.Add(new(p + "self_attn.o_proj.weight", [h, q], WeightPart.Layer, layer));
            if (c.OutputProjectionBias)
            {
                specs.Add(new(p + "self_attn.o_proj.bias", [h], WeightPart.Layer, layer));
            }
            specs.Add(new(p + "post_attention_layernorm.weight", [h], WeightPart.Layer, layer));
            specs.Add(new(p + "mlp.gate_proj.weight", [i, h], WeightPart.Layer, layer));
            specs.Add(new(p + "mlp.up_proj.weight", [i, h], WeightPart.Layer, layer));
            specs.Add(new(p + "mlp.down_proj.weight", [h, i], WeightPart.Layer, layer));
        }
        specs.Add(new(FinalNorm, [h], WeightPart.Head));
        if (!c.TieWordEmbeddings)
        {
            specs.Add(new(LmHead, [c.VocabularySize, h], WeightPart.Head));
        }
        return specs;
    }

    // Old checkpoints persist the RoPE inverse-frequency buffer; tied checkpoints sometimes save lm_head too.
    public override bool IsIgnorable(string key) =>
        RotaryBuffer().IsMatch(key) || (Config.TieWordEmbeddings && key == LmHead);

    public override IEmbedding CreateEmbedding(WeightLoader weights) => new TokenEmbedding(weights.Load(EmbedTokens));

    public override DecoderBlock CreateBlock(int layer, WeightLoader weights, RotaryEmbedding? rotary)
    {
        var c = Config;
        var p = $"model.layers.{layer}.";
        var attention = new Attention(c,
            weights.LoadLinearConcatenated(
                [p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"],
                c.QkvBias ? [p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"] : null),
            weights.LoadLinear(p + "self_attn.o_proj.weight", c.OutputProjectionBias ? p + "self_attn.o_proj.bias" : null),
            rotary);
        var feedForward = new SwiGluFeedForward(
            weights.LoadLinearConcatenated([p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"]),
            weights.LoadLinear(p + "mlp.down_proj.weight"));
        return new DecoderBlock(
            new RmsNorm(weights.Load(p + "input_layernorm.weight"), c.NormEpsilon),
            attention,
            new RmsNorm(weights.Load(p + "post_attention_layernorm.weight"), c.NormEpsilon),
            feedForward);
    }

    public override LanguageModelHead CreateHead(WeightLoader weights, Tensor? tiedEmbedding)
    {
        var norm = new RmsNorm(weights.Load(FinalNorm), Config.NormEpsilon);
        if (!Config.TieWordEmbeddings)
        {
            return new LanguageModelHead(norm, weights.LoadLinear(LmHead), ownsProjection: true);
        }
        if (tiedEmbedding is not null)
        {
            var (projection, owned) = weights.TiedProjection(tiedEmbedding);
            return new LanguageModelHead(norm, projection, owned);
        }
        return new LanguageModelHead(norm, weights.LoadLinear(EmbedTokens), ownsProjection: true);
    }

    [GeneratedRegex(@"^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$|^model\.rotary_emb\.inv_freq$")]
    private static partial Regex RotaryBuffer();
}
