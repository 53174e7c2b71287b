using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cluster.Engine.Tests.Reference;

public class ReferenceModelTests
{
    private const double Tolerance = 1e-9;

    // ------------------------------------------------------------ safetensors

    [Theory]
    [InlineData(0x3C00, 1.0)]
    [InlineData(0xC000, -2.0)]
    [InlineData(0x3555, 0.333251953125)]
    [InlineData(0x7BFF, 65504.0)]
    [InlineData(0x0001, 5.9604644775390625E-08)] // smallest subnormal, 2^-24
    [InlineData(0x03FF, 6.097555160522461E-05)] // largest subnormal, 1023 * 2^-24
    [InlineData(0x0400, 6.103515625E-05)] // smallest normal, 2^-14
    [InlineData(0x0000, 0.0)]
    [InlineData(0x7C00, double.PositiveInfinity)]
    [InlineData(0xFC00, double.NegativeInfinity)]
    public void F16BitsDecode(int bits, double expected) =>
        Assert.Equal(expected, SafeTensorsDecoding.HalfBitsToDouble((ushort)bits));

    [Fact]
    public void F16SpecialsDecode()
    {
        Assert.True(double.IsNaN(SafeTensorsDecoding.HalfBitsToDouble(0x7E00)));
        double negativeZero = SafeTensorsDecoding.HalfBitsToDouble(0x8000);
        Assert.Equal(0.0, negativeZero);
        Assert.True(double.IsNegative(negativeZero));
    }

    [Theory]
    [InlineData(0x3F80, 1.0)]
    [InlineData(0xC040, -3.0)]
    [InlineData(0x4049, 3.140625)]
    [InlineData(0x3E80, 0.25)]
    [InlineData(0x0000, 0.0)]
    [InlineData(0x7F80, double.PositiveInfinity)]
    [InlineData(0x0001, 9.183549615799121E-41)] // subnormal: 2^-133
    public void BF16BitsDecode(int bits, double expected) =>
        Assert.Equal(expected, SafeTensorsDecoding.BFloat16BitsToDouble((ushort)bits));

    [Fact]
    public void ReaderReadsMixedDtypesWithMetadataAndOffsets()
    {
        string dir = NewTempDir();
        try
        {
            string path = Path.Combine(dir, "model.safetensors");
            SafeTensorsWriter.Write(path, new Dictionary<string, RawTensor>
            {
                ["a"] = RawTensor.F32([2, 3], [1, 2, 3, 4, 5, -6.5]),
                ["half"] = RawTensor.Bits16("F16", [2], 0x3C00, 0xC000),
                ["brain"] = RawTensor.Bits16("BF16", [1, 1, 2], 0x4049, 0x3E80),
            }, new Dictionary<string, string> { ["format"] = "pt" });
            var file = SafeTensorsFile.Open(path);
            Assert.Equal("pt", file.Metadata["format"]);
            Assert.Equal(3, file.Entries.Count);
            var a = file.Read("a");
            Assert.Equal([2, 3], a.Shape);
            Assert.Equal([1, 2, 3, 4, 5, -6.5], a.Data);
            Assert.Equal([1.0, -2.0], file.Read("half").Data);
            var brain = file.Read("brain");
            Assert.Equal([1, 1, 2], brain.Shape);
            Assert.Equal([3.140625, 0.25], brain.Data);
            var missing = Assert.Throws<KeyNotFoundException>(() => file.Read("nope"));
            Assert.Contains("'nope'", missing.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void ReaderRejectsSizeMismatch()
    {
        string dir = NewTempDir();
        try
        {
            string path = Path.Combine(dir, "model.safetensors");
            // Claims 3 F32 values but holds 2.
            SafeTensorsWriter.Write(path, new Dictionary<string, RawTensor> { ["x"] = RawTensor.F32([3], [1, 2]) });
            var error = Assert.Throws<InvalidDataException>(() => SafeTensorsFile.Open(path));
            Assert.Contains("'x'", error.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    // ------------------------------------------------------------ building blocks by hand

    [Fact]
    public void RmsNormMatchesHand()
    {
        // mean(x^2) = (1 + 4 + 9 + 16) / 4 = 7.5
        var y = ReferenceModel.RmsNorm([1, 2, 3, 4], [1, 1, 2, 0.5], 0.5);
        double r = 1 / Math.Sqrt(8.0);
        AssertClose([1 * r, 2 * r, 6 * r, 2 * r], y);
    }

    [Fact]
    public void LayerNormUsesBiasedVariance()
    {
        // mean 2.5, biased variance 1.25 (the unbiased one would be 5/3).
        var y = ReferenceModel.LayerNorm([1, 2, 3, 4], [1, 2, 1, 1], [0, 0, 0, 10], 0.0);
        double s = 1 / Math.Sqrt(1.25);
        AssertClose([-1.5 * s, -0.5 * s * 2, 0.5 * s, 1.5 * s + 10], y);
    }

    [Fact]
    public void LinearIsXTimesWTransposedAndConv1DIsXTimesW()
    {
        // nn.Linear weight (out=2, in=3).
        var linear = new RefTensor("lin", [2, 3], [1, 2, 3, 4, 5, 6]);
        AssertClose([1 * 1 + 2 * 10 + 3 * 100 + 0.5, 4 * 1 + 5 * 10 + 6 * 100 - 0.5],
            ReferenceModel.Linear([1, 10, 100], linear, new RefTensor("b", [2], [0.5, -0.5])));
        // Conv1D weight (in=3, out=2): the same numbers read the other way.
        var conv = new RefTensor("conv", [3, 2], [1, 2, 3, 4, 5, 6]);
        AssertClose([1 * 1 + 3 * 10 + 5 * 100, 2 * 1 + 4 * 10 + 6 * 100],
            ReferenceModel.Conv1D([1, 10, 100], conv, null));
    }

    [Fact]
    public void ActivationsMatchKnownValues()
    {
        Assert.Equal(0.0, ReferenceModel.GeluNew(0.0));
        Assert.Equal(0.8411919906082768, ReferenceModel.GeluNew(1.0), 14);
        Assert.Equal(-0.04540230591222494, ReferenceModel.GeluNew(-2.0), 14);
        Assert.Equal(1.0 / (1.0 + Math.Exp(-1.0)), ReferenceModel.Silu(1.0), 15);
        Assert.Equal(-2.0 / (1.0 + Math.Exp(2.0)), ReferenceModel.Silu(-2.0), 15);
    }

    [Fact]
    public void DefaultInvFreqMatchesHand()
    {
        AssertClose([1, 0.1, 0.01, 0.001], ReferenceModel.DefaultInvFreq(8, 10000.0));
    }

    [Fact]
    public void Llama3InvFreqMatchesHand()
    {
        // factor 8, low 1, high 4, original 8192: low_freq_wavelen 8192, high_freq_wavelen 2048.
        double medium = 2 * Math.PI / 4096; // wavelen 4096: smooth = (8192/4096 - 1) / (4 - 1) = 1/3
        double low = 2 * Math.PI / 10000; // wavelen 10000 > 8192: divided by the factor
        double edgeLow = 2 * Math.PI / 8192; // wavelen == low_freq_wavelen: medium with smooth 0 => f / factor
        double edgeHigh = 2 * Math.PI / 2048; // wavelen == high_freq_wavelen: medium with smooth 1 => f
        var result = ReferenceModel.Llama3InvFreq([1.0, medium, low, edgeLow, edgeHigh], 8, 1, 4, 8192);
        AssertClose([1.0, medium * (2.0 / 3 / 8 + 1.0 / 3), low / 8, edgeLow / 8, edgeHigh], result, 1e-15);
    }

    [Theory]
    [InlineData("rope_type")]
    [InlineData("type")]
    public void ConfigAppliesLlama3Scaling(string typeKey)
    {
        var config = JsonNode.Parse($$$"""
            {"rope_theta": 500000.0, "rope_scaling": {"{{{typeKey}}}": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
             "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}
            """)!;
        using var doc = JsonDocument.Parse(config.ToJsonString());
        var invFreq = LlamaSettings.RopeInvFreq(doc.RootElement, 64);
        var plain = ReferenceModel.DefaultInvFreq(64, 500000.0);
        Assert.Equal(32, invFreq.Length);
        Assert.Equal(plain[0], invFreq[0]); // highest frequency, untouched
        Assert.Equal(plain[31] / 32, invFreq[31], 1e-18); // lowest frequency, divided by factor
        Assert.Contains(invFreq.Select((f, j) => f / plain[j]), r => r > 1.0 / 32 + 1e-6 && r < 1 - 1e-6); // some smoothed
    }

    [Fact]
    public void ConfigAppliesLinearScalingAndRejectsUnknownRopeType()
    {
        using var linear = JsonDocument.Parse("""{"rope_theta": 100.0, "rope_scaling": {"type": "linear", "factor": 4.0}}""");
        AssertClose([0.25, 0.1 / 4], LlamaSettings.RopeInvFreq(linear.RootElement, 4));
        using var yarn = JsonDocument.Parse("""{"rope_scaling": {"rope_type": "yarn", "factor": 4.0}}""");
        Assert.Contains("yarn", Assert.Throws<NotSupportedException>(() => LlamaSettings.RopeInvFreq(yarn.RootElement, 4)).Message);
    }

    [Fact]
    public void RopeAtPositionZeroIsIdentity()
    {
        double[] x = [0.3, -1.2, 2.5, 0.7, -0.1, 4.0];
        var y = (double[])x.Clone();
        ReferenceModel.ApplyRope(y, 0, ReferenceModel.DefaultInvFreq(6, 10000.0));
        Assert.Equal(x, y);
    }

    [Fact]
    public void RopeUsesRotateHalfLayout()
    {
        // head_dim 4, inv_freq [1, 0.01]. Rotate-half pairs element j with j + 2 (not with j + 1).
        double[] invFreq = [1.0, 0.01];
        double[] x = [1, 0, 0, 0];
        ReferenceModel.ApplyRope(x, 1, invFreq);
        AssertClose([Math.Cos(1), 0, Math.Sin(1), 0], x);
        double[] y = [0, 0, 0, 1];
        ReferenceModel.ApplyRope(y, 3, invFreq);
        AssertClose([0, -Math.Sin(0.03), 0, Math.Cos(0.03)], y);
    }

    [Fact]
    public void RopeScoreDependsOnlyOnRelativeOffsetAndKeepsNorm()
    {
        var invFreq = ReferenceModel.DefaultInvFreq(8, 10000.0);
        double[] q = [0.5, -1, 2, 0.25, 1.5, -0.75, 0.1, 3];
        double[] k = [-2, 0.5, 1, 1, -0.3, 0.9, 2.2, -1];
        double Score(int qPos, int kPos)
        {
            var rq = (double[])q.Clone();
            var rk = (double[])k.Clone();
            ReferenceModel.ApplyRope(rq, qPos, invFreq);
            ReferenceModel.ApplyRope(rk, kPos, invFreq);
            return rq.Zip(rk, (a, b) => a * b).Sum();
        }
        Assert.Equal(Score(5, 2), Score(3, 0), 10);
        Assert.Equal(Score(5, 2), Score(42, 39), 10);
        Assert.Equal(Score(7, 7), Score(0, 0), 10);
        Assert.NotEqual(Score(5, 2), Score(5, 3), 6);
        var r = (double[])q.Clone();
        ReferenceModel.ApplyRope(r, 17, invFreq);
        Assert.Equal(q.Sum(v => v * v), r.Sum(v => v * v), 10);
    }

    [Fact]
    public void AttentionScalesBySqrtHeadDimAndIsCausal()
    {
        // One head, head_dim 2. Position 0 sees only itself; position 1 scores [0, 2/sqrt(2)].
        double[][] q = [[5, 5], [1, 0]];
        double[][] k = [[0, 0], [2, 0]];
        double[][] v = [[1, 0], [0, 1]];
        var output = ReferenceModel.CausalAttention(q, k, v, 1, 1, 2, 1 / Math.Sqrt(2), null);
        AssertClose([1, 0], output[0]);
        double e = Math.Exp(2 / Math.Sqrt(2));
        AssertClose([1 / (1 + e), e / (1 + e)], output[1]);
    }

    [Fact]
    public void GroupedQueryHeadsReadKvHeadHOverGroup()
    {
        // 4 query heads, 2 kv heads, head_dim 2, one position: each head returns its kv head's value.
        double[][] q = [[1, 2, 3, 4, 5, 6, 7, 8]];
        double[][] k = [[1, 1, 1, 1]];
        double[][] v = [[10, 11, 20, 21]];
        var output = ReferenceModel.CausalAttention(q, k, v, 4, 2, 2, 1, null);
        AssertClose([10, 11, 10, 11, 20, 21, 20, 21], output[0]);
    }

    // ------------------------------------------------------------ whole Llama models

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

    // ------------------------------------------------------------ whole GPT-2 models

    [Fact]
    public void Gpt2WithZeroedProjectionsIsTiedHeadOfLayerNormOfTokenPlusPosition()
    {
        const int h = 4, vocab = 6;
        using var ckpt = new TestCheckpoint(TestCheckpoint.Gpt2Config(embd: h, layers: 1, heads: 2, vocab: vocab, positions: 8));
        ckpt.RandomGpt2Weights();
        ckpt.Fill("h.0.attn.c_proj.weight", 0, h, h);
        ckpt.Fill("h.0.attn.c_proj.bias", 0, h);
        ckpt.Fill("h.0.mlp.c_proj.weight", 0, 4 * h, h);
        ckpt.Fill("h.0.mlp.c_proj.bias", 0, h);
        int[] tokens = [5, 5, 0];
        var logits = ReferenceModel.Forward(ckpt.Save(), tokens);

        var wte = ckpt.Stored("wte.weight");
        var wpe = ckpt.Stored("wpe.weight");
        var g = ckpt.Stored("ln_f.weight");
        var b = ckpt.Stored("ln_f.bias");
        for (int t = 0; t < tokens.Length; t++)
        {
            var x = Enumerable.Range(0, h).Select(j => wte[tokens[t] * h + j] + wpe[t * h + j]).ToArray();
            double mean = x.Average();
            double variance = x.Sum(v => (v - mean) * (v - mean)) / h;
            var n = x.Select((v, j) => (v - mean) / Math.Sqrt(variance + 1e-5) * g[j] + b[j]).ToArray();
            AssertClose(MatVec(wte, n, vocab), logits[t], 1e-9);
        }
        Assert.NotEqual(logits[0], logits[1]); // same token, different position
    }

    [Fact]
    public void Gpt2Conv1DOrientationWithNonSquareInner()
    {
        // One layer, only the MLP path live (attention c_proj zero); c_fc is (4, 6), c_proj (6, 4).
        const int h = 4, inner = 6, vocab = 5;
        using var ckpt = new TestCheckpoint(TestCheckpoint.Gpt2Config(embd: h, layers: 1, heads: 1, vocab: vocab, inner: inner), seed: 4);
        ckpt.RandomGpt2Weights();
        ckpt.Fill("h.0.attn.c_proj.weight", 0, h, h);
        ckpt.Fill("h.0.attn.c_proj.bias", 0, h);
        int[] tokens = [2];
        var logits = ReferenceModel.Forward(ckpt.Save(), tokens);

        var x = Enumerable.Range(0, h).Select(j => ckpt.Stored("wte.weight")[2 * h + j] + ckpt.Stored("wpe.weight")[j]).ToArray();
        var n = Ln(x, ckpt.Stored("h.0.ln_2.weight"), ckpt.Stored("h.0.ln_2.bias"));
        var fc = ckpt.Stored("h.0.mlp.c_fc.weight");
        var fcB = ckpt.Stored("h.0.mlp.c_fc.bias");
        var a = new double[inner];
        for (int o = 0; o < inner; o++)
        {
            double sum = fcB[o];
            for (int i = 0; i < h; i++)
            {
                sum += n[i] * fc[i * inner + o]; // (in, out)
            }
            a[o] = 0.5 * sum * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (sum + 0.044715 * sum * sum * sum)));
        }
        var proj = ckpt.Stored("h.0.mlp.c_proj.weight");
        var projB = ckpt.Stored("h.0.mlp.c_proj.bias");
        for (int o = 0; o < h; o++)
        {
            double sum = projB[o];
            for (int i = 0; i < inner; i++)
            {
                sum += a[i] * proj[i * h + o];
            }
            x[o] += sum;
        }
        var final = Ln(x, ckpt.Stored("ln_f.weight"), ckpt.Stored("ln_f.bias"));
        AssertClose(MatVec(ckpt.Stored("wte.weight"), final, vocab), logits[0], 1e-9);
    }

    [Fact]
    public void Gpt2IsCausalAndAcceptsPrefixAndBufferKeys()
    {
        using var bare = new TestCheckpoint(TestCheckpoint.Gpt2Config(inner: 12), seed: 9);
        bare.RandomGpt2Weights();
        var a = ReferenceModel.Forward(bare.Save(), [1, 2, 3, 4]);
        var b = ReferenceModel.Forward(bare.Save(), [1, 2, 7, 0]);
        Assert.Equal(a[0], b[0]);
        Assert.Equal(a[1], b[1]);
        Assert.NotEqual(a[2], b[2]);

        using var prefixed = new TestCheckpoint(TestCheckpoint.Gpt2Config(inner: 12), seed: 9);
        prefixed.RandomGpt2Weights("transformer.");
        prefixed.Fill("transformer.h.0.attn.bias", 1, 1, 1, 16, 16); // causal-mask buffer in old checkpoints
        prefixed.Fill("transformer.h.0.attn.masked_bias", -1e4);
        Assert.Equal(a, ReferenceModel.Forward(prefixed.Save(), [1, 2, 3, 4]));
    }

    [Fact]
    public void Gpt2RejectsTooManyTokensAndMissingKeys()
    {
        using var ckpt = new TestCheckpoint(TestCheckpoint.Gpt2Config(positions: 4));
        ckpt.RandomGpt2Weights();
        Assert.Throws<ArgumentException>(() => ReferenceModel.Forward(ckpt.Save(), [1, 2, 3, 4, 5]));
        ckpt.Tensors.Remove("h.1.ln_2.bias");
        var error = Assert.Throws<KeyNotFoundException>(() => ReferenceModel.Forward(ckpt.Save(), [1]));
        Assert.Contains("h.1.ln_2.bias", error.Message);
    }

    // ------------------------------------------------------------ helpers

    private static string NewTempDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "reference-st-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static double[] Rms(double[] x, double[] w)
    {
        double rms = Math.Sqrt(x.Sum(v => v * v) / x.Length + 1e-5);
        return x.Select((v, j) => v / rms * w[j]).ToArray();
    }

    private static double[] Ln(double[] x, double[] w, double[] b)
    {
        double mean = x.Average();
        double variance = x.Sum(v => (v - mean) * (v - mean)) / x.Length;
        return x.Select((v, j) => (v - mean) / Math.Sqrt(variance + 1e-5) * w[j] + b[j]).ToArray();
    }

    /// <summary>(rows, x.Length) row-major matrix times x.</summary>
    private static double[] MatVec(double[] matrix, double[] x, int rows)
    {
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < x.Length; c++)
            {
                y[r] += matrix[r * x.Length + c] * x[c];
            }
        }
        return y;
    }

    private static void AssertClose(IReadOnlyList<double> expected, IReadOnlyList<double> actual, double tolerance = Tolerance)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance,
                $"index {i}: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }
}
