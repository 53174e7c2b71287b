namespace Cluster.Engine.Tests.Reference;

/// <summary>Whole Llama models through the reference: closed forms on special weights, and the checkpoint keys it requires.</summary>
public partial class ReferenceModelTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LlamaWithZeroedBlocksIsHeadOfNormOfEmbedding(bool tie)
    {
        using var ckpt = new TestCheckpoint(TestCheckpoint.LlamaConfig(hidden: 12, heads: 2, kvHeads: 1, vocab: 9, layers: 1, tie: tie));
        ckpt.RandomLlamaWeights();
        ckpt.Fill("model.layers.0.self_attn.o_proj.weight", 0, 12, 12);
        ckpt.Fill("model.layers.0.mlp.down_proj.weight", 0, 12, 12);
        int[] tokens = [3, 0, 8, 3];
        var logits = ReferenceModel.Forward(ckpt.Save(), tokens);

        var embed = ckpt.Stored("model.embed_tokens.weight");
        var norm = ckpt.Stored("model.norm.weight");
        var head = ckpt.Stored(tie ? "model.embed_tokens.weight" : "lm_head.weight");
        Assert.Equal(tokens.Length, logits.Length);
        for (int t = 0; t < tokens.Length; t++)
        {
            var x = embed.Skip(tokens[t] * 12).Take(12).ToArray();
            double rms = Math.Sqrt(x.Sum(v => v * v) / 12 + 1e-5);
            var n = x.Select((v, j) => v / rms * norm[j]).ToArray();
            Assert.Equal(9, logits[t].Length);
            for (int vocab = 0; vocab < 9; vocab++)
            {
                double expected = 0;
                for (int j = 0; j < 12; j++)
                {
                    expected += n[j] * head[vocab * 12 + j];
                }
                Assert.Equal(expected, logits[t][vocab], 10);
            }
        }
    }

    [Fact]
    public void LlamaAttentionWithZeroQueriesAveragesValuesOverThePast()
    {
        // q_proj = 0 => every score is 0 => attention is the mean of v over positions <= t.
        // 2 query heads share 1 kv head (head_dim 4): v = n[0..4], o_proj = I, so h_t = x_t + mean_s [n_s[:4], n_s[:4]].
        const int h = 8;
        using var ckpt = new TestCheckpoint(TestCheckpoint.LlamaConfig(hidden: h, heads: 2, kvHeads: 1, vocab: 7, layers: 1));
        ckpt.RandomLlamaWeights();
        ckpt.Fill("model.layers.0.self_attn.q_proj.weight", 0, 8, h);
        var v = new double[4 * h];
        for (int i = 0; i < 4; i++)
        {
            v[i * h + i] = 1;
        }
        ckpt.Set("model.layers.0.self_attn.v_proj.weight", [4, h], v);
        var identity = new double[h * h];
        for (int i = 0; i < h; i++)
        {
            identity[i * h + i] = 1;
        }
        ckpt.Set("model.layers.0.self_attn.o_proj.weight", [h, h], identity);
        ckpt.Fill("model.layers.0.mlp.down_proj.weight", 0, h, 12);
        int[] tokens = [1, 6, 2];
        var logits = ReferenceModel.Forward(ckpt.Save(), tokens);

        var embed = ckpt.Stored("model.embed_tokens.weight");
        var w1 = ckpt.Stored("model.layers.0.input_layernorm.weight");
        var wf = ckpt.Stored("model.norm.weight");
        var head = ckpt.Stored("lm_head.weight");
        var n = tokens.Select(tok => Rms(embed.Skip(tok * h).Take(h).ToArray(), w1)).ToArray();
        for (int t = 0; t < tokens.Length; t++)
        {
            var x = embed.Skip(tokens[t] * h).Take(h).ToArray();
            for (int j = 0; j < h; j++)
            {
                double mean = 0;
                for (int s = 0; s <= t; s++)
                {
                    mean += n[s][j % 4];
                }
                x[j] += mean / (t + 1);
            }
            AssertClose(MatVec(head, Rms(x, wf), 7), logits[t], 1e-9);
        }
    }

    [Fact]
    public void LlamaMlpIsDownOfSiluGateTimesUp()
    {
        const int h = 4, inter = 6, vocab = 5;
        using var ckpt = new TestCheckpoint(TestCheckpoint.LlamaConfig(hidden: h, intermediate: inter, heads: 2, kvHeads: 2, vocab: vocab, layers: 1, tie: true));
        ckpt.RandomLlamaWeights();
        ckpt.Fill("model.layers.0.self_attn.o_proj.weight", 0, h, h);
        int[] tokens = [4, 2];
        var logits = ReferenceModel.Forward(ckpt.Save(), tokens);

        var embed = ckpt.Stored("model.embed_tokens.weight");
        var w2 = ckpt.Stored("model.layers.0.post_attention_layernorm.weight");
        var gate = ckpt.Stored("model.layers.0.mlp.gate_proj.weight");
        var up = ckpt.Stored("model.layers.0.mlp.up_proj.weight");
        var down = ckpt.Stored("model.layers.0.mlp.down_proj.weight");
        var wf = ckpt.Stored("model.norm.weight");
        for (int t = 0; t < tokens.Length; t++)
        {
            var x = embed.Skip(tokens[t] * h).Take(h).ToArray();
            var n = Rms(x, w2);
            var g = MatVec(gate, n, inter);
            var u = MatVec(up, n, inter);
            var act = g.Select((gv, i) => gv / (1 + Math.Exp(-gv)) * u[i]).ToArray();
            var d = MatVec(down, act, h);
            var hidden = x.Select((xv, i) => xv + d[i]).ToArray();
            AssertClose(MatVec(embed, Rms(hidden, wf), vocab), logits[t], 1e-9);
        }
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    [InlineData("mistral")]
    public void LlamaFamilyIsCausal(string modelType)
    {
        using var ckpt = new TestCheckpoint(TestCheckpoint.LlamaConfig(modelType: modelType), seed: 7);
        ckpt.RandomLlamaWeights();
        string dir = ckpt.Save();
        var a = ReferenceModel.Forward(dir, [1, 2, 3, 4, 5]);
        var b = ReferenceModel.Forward(dir, [1, 2, 3, 9, 0]);
        for (int t = 0; t < 3; t++)
        {
            Assert.Equal(a[t], b[t]);
        }
        Assert.NotEqual(a[3], b[3]);
        Assert.True(a.SelectMany(r => r).All(double.IsFinite));
    }

    [Fact]
    public void Qwen2BiasesAreRequiredAndUsed()
    {
        using var ckpt = new TestCheckpoint(TestCheckpoint.LlamaConfig(modelType: "qwen2"), seed: 3);
        ckpt.RandomLlamaWeights();
        var withBias = ReferenceModel.Forward(ckpt.Save(), [1, 2, 3]);
        ckpt.Fill("model.layers.1.self_attn.k_proj.bias", 0, 4);
        ckpt.Fill("model.layers.1.self_attn.v_proj.bias", 0, 4);
        var zeroBias = ReferenceModel.Forward(ckpt.Save(), [1, 2, 3]);
        Assert.NotEqual(withBias[2], zeroBias[2]);
        ckpt.Tensors.Remove("model.layers.1.self_attn.q_proj.bias");
        var error = Assert.Throws<KeyNotFoundException>(() => ReferenceModel.Forward(ckpt.Save(), [1]));
        Assert.Contains("model.layers.1.self_attn.q_proj.bias", error.Message);
    }

    [Fact]
    public void LlamaAttentionBiasCoversOutputProjection()
    {
        var config = TestCheckpoint.LlamaConfig(layers: 1);
        config["attention_bias"] = true;
        using var ckpt = new TestCheckpoint(config);
        ckpt.RandomLlamaWeights();
        var error = Assert.Throws<KeyNotFoundException>(() => ReferenceModel.Forward(ckpt.Save(), [1]));
        Assert.Contains("model.layers.0.self_attn.o_proj.bias", error.Message);
        ckpt.Random("model.layers.0.self_attn.o_proj.bias", 8);
        Assert.Equal(2, ReferenceModel.Forward(ckpt.Save(), [1, 2]).Length);
    }

    [Fact]
    public void ExplicitHeadDimIsHonoured()
    {
        // head_dim 6 with hidden 8 and 2 heads: q_proj is (12, 8), o_proj (8, 12).
        var config = TestCheckpoint.LlamaConfig(hidden: 8, heads: 2, kvHeads: 1, layers: 1);
        config["head_dim"] = 6;
        using var ckpt = new TestCheckpoint(config);
        ckpt.RandomLlamaWeights();
        Assert.Equal([12, 8], ckpt.Tensors["model.layers.0.self_attn.q_proj.weight"].Shape);
        var logits = ReferenceModel.Forward(ckpt.Save(), [1, 2, 3]);
        Assert.True(logits.SelectMany(r => r).All(double.IsFinite));
    }

    [Fact]
    public void MistralSlidingWindowHidesOldTokens()
    {
        var config = TestCheckpoint.LlamaConfig(modelType: "mistral", layers: 1);
        config["sliding_window"] = 2;
        using var ckpt = new TestCheckpoint(config, seed: 5);
        ckpt.RandomLlamaWeights();
        string dir = ckpt.Save();
        var a = ReferenceModel.Forward(dir, [1, 2, 3, 4]);
        var b = ReferenceModel.Forward(dir, [9, 2, 3, 4]);
        Assert.NotEqual(a[1], b[1]); // position 1 still sees position 0
        Assert.Equal(a[2], b[2]); // window 2: position 2 sees 1 and 2 only
        Assert.Equal(a[3], b[3]);
    }

    [Fact]
    public void ShardedCheckpointGivesTheSameLogits()
    {
        using var ckpt = new TestCheckpoint(TestCheckpoint.LlamaConfig(), seed: 11);
        ckpt.RandomLlamaWeights();
        var single = ReferenceModel.Forward(ckpt.Save(), [0, 5, 10]);
        string dir = ckpt.Save(shards: 3);
        Assert.False(File.Exists(Path.Combine(dir, "model.safetensors")));
        Assert.Equal(3, Directory.GetFiles(dir, "model-*.safetensors").Length);
        Assert.Equal(single, ReferenceModel.Forward(dir, [0, 5, 10]));
    }

    [Fact]
    public void MissingTensorAndUnknownModelTypeAreClearErrors()
    {
        using var ckpt = new TestCheckpoint(TestCheckpoint.LlamaConfig());
        ckpt.RandomLlamaWeights();
        ckpt.Tensors.Remove("model.layers.1.mlp.up_proj.weight");
        var missing = Assert.Throws<KeyNotFoundException>(() => ReferenceModel.Forward(ckpt.Save(), [1]));
        Assert.Contains("model.layers.1.mlp.up_proj.weight", missing.Message);

        ckpt.RandomLlamaWeights();
        ckpt.Config["model_type"] = "bert";
        var unknown = Assert.Throws<NotSupportedException>(() => ReferenceModel.Forward(ckpt.Save(), [1]));
        Assert.Contains("bert", unknown.Message);
    }

    [Fact]
    public void WrongShapeNamesTheTensor()
    {
        using var ckpt = new TestCheckpoint(TestCheckpoint.LlamaConfig());
        ckpt.RandomLlamaWeights();
        ckpt.Random("model.layers.0.self_attn.k_proj.weight", 8, 8); // should be (kv 2 * head_dim 2 = 4, 8)
        var error = Assert.Throws<InvalidDataException>(() => ReferenceModel.Forward(ckpt.Save(), [1]));
        Assert.Contains("model.layers.0.self_attn.k_proj.weight", error.Message);
    }
}
