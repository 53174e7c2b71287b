using System.Text.RegularExpressions;
using Cluster.Engine.Configuration;
using Cluster.Engine.Weights;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// GPT-2 (GPT2LMHeadModel keys, with or without the "transformer." prefix). Its Conv1D layers store weights
/// (in, out); they are transposed once at load so every projection runs as nn.Linear does.
/// </summary>
public sealed partial class Gpt2Family(ModelConfig config, string prefix) : ModelFamily(config)
{
    public override bool UsesRotaryEmbedding => false;

    public static string DetectPrefix(CheckpointWeights checkpoint) =>
        checkpoint.Contains("transformer.wte.weight") ? "transformer." : "";

    public override IReadOnlyList<WeightSpec> ExpectedWeights()
    {
        var c = Config;
        long h = c.HiddenSize, i = c.IntermediateSize;
        var specs = new List<WeightSpec>
        {
            new(prefix + "wte.weight", [c.VocabularySize, h], WeightPart.Embedding),
            new(prefix + "wpe.weight", [c.MaxPositionEmbeddings, h], WeightPart.Embedding),
        };
        for (var layer = 0; layer < c.LayerCount; layer++)
        {
            var p = $"{prefix}h.{layer}.";
            specs.Add(new(p + "ln_1.weight", [h], WeightPart.Layer, layer));
            specs.Add(new(p + "ln_1.bias", [h], WeightPart.Layer, layer));
            specs.Add(new(p + "attn.c_attn.weight", [h, 3 * h], WeightPart.Layer, layer));
            specs.Add(new(p + "attn.c_attn.bias", [3 * h], WeightPart.Layer, layer));
            specs.Add(new(p + "attn.c_proj.weight", [h, h], WeightPart.Layer, layer));
            specs.Add(new(p + "attn.c_proj.bias", [h], WeightPart.Layer, layer));
            specs.Add(new(p + "ln_2.weight", [h], WeightPart.Layer, layer));
            specs.Add(new(p + "ln_2.bias", [h], WeightPart.Layer, layer));
            specs.Add(new(p + "mlp.c_fc.weight", [h, i], WeightPart.Layer, layer));
            specs.Add(new(p + "mlp.c_fc.bias", [i], WeightPart.Layer, layer));
            specs.Add(new(p + "mlp.c_proj.weight", [i, h], WeightPart.Layer, layer));
            specs.Add(new(p + "mlp.c_proj.bias", [h], WeightPart.Layer, layer));
        }
        specs.Add(new(prefix + "ln_f.weight", [h], WeightPart.Head));
        specs.Add(new(prefix + "ln_f.bias", [h], WeightPart.Head));
        return specs;
    }

    // The original checkpoints persist the causal-mask buffers; the head is tied to wte.
    public override bool IsIgnorable(string key) => MaskBuffer().IsMatch(key) || key == "lm_head.weight";

    public override IEmbedding CreateEmbedding(WeightLoader weights) =>
        new TokenAndPositionEmbedding(weights.Load(prefix + "wte.weight"), weights.Load(prefix + "wpe.weight"));

    public override DecoderBlock CreateBlock(int layer, WeightLoader weights, RotaryEmbedding? rotary)
    {
        var c = Config;
        var p = $"{prefix}h.{layer}.";
        var attention = new Attention(c,
            weights.LoadLinearTransposed(p + "attn.c_attn.weight", p + "attn.c_attn.bias"),
            weights.LoadLinearTransposed(p + "attn.c_proj.weight", p + "attn.c_proj.bias"),
            rotary: null);
        var feedForward = new GeluFeedForward(
            weights.LoadLinearTransposed(p + "mlp.c_fc.weight", p + "mlp.c_fc.bias"),
            weights.LoadLinearTransposed(p + "mlp.c_proj.weight", p + "mlp.c_proj.bias"));
        return new DecoderBlock(
            new LayerNorm(weights.Load(p + "ln_1.weight"), weights.Load(p + "ln_1.bias"), c.NormEpsilon),
            attention,
            new LayerNorm(weights.Load(p + "ln_2.weight"), weights.Load(p + "ln_2.bias"), c.NormEpsilon),
            feedForward);
    }

    public override LanguageModelHead CreateHead(WeightLoader weights, Tensor? tiedEmbedding)
    {
        var norm = new LayerNorm(weights.Load(prefix + "ln_f.weight"), weights.Load(prefix + "ln_f.bias"), Config.NormEpsilon);
        if (tiedEmbedding is not null)
        {
            var (projection, owned) = weights.TiedProjection(tiedEmbedding);
            return new LanguageModelHead(norm, projection, owned);
        }
        return new LanguageModelHead(norm, weights.LoadLinear(prefix + "wte.weight"), ownsProjection: true);
    }

    [GeneratedRegex(@"(^|\.)h\.\d+\.attn\.(masked_)?bias$")]
    private static partial Regex MaskBuffer();
}
