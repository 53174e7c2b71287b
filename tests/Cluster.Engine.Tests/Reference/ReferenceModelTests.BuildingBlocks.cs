using System.Text.Json;
using System.Text.Json.Nodes;

namespace Cluster.Engine.Tests.Reference;

/// <summary>Each building block of the reference (norms, attention, RoPE and its scalings, feed-forward) against values worked out by hand.</summary>
public partial class ReferenceModelTests
{
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
}
