namespace Cluster.Engine.Tests.Reference;

/// <summary>Whole GPT-2 models through the reference: closed forms on special weights, and the checkpoint keys it requires.</summary>
public partial class ReferenceModelTests
{
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
}
