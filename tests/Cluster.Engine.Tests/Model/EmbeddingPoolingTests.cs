using Cluster.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Tests.Model;

/// <summary>Pooling packed hidden states: per sequence, the mean or the last row, optionally scaled to length 1.</summary>
public sealed class EmbeddingPoolingTests
{
    // Two sequences packed: rows 0-1 are the first (2 tokens), row 2 the second (1 token).
    private static Tensor Hidden() => torch.tensor(new float[] { 1, 2, 3, 4, 6, 8 }, [3, 2]);

    [Theory]
    [InlineData(PoolingKind.Mean, false, new float[] { 2, 3, 6, 8 })]
    [InlineData(PoolingKind.Last, false, new float[] { 3, 4, 6, 8 })]
    [InlineData(PoolingKind.Last, true, new float[] { 0.6f, 0.8f, 0.6f, 0.8f })]
    public void EachSequenceBecomesOneRow(PoolingKind pooling, bool normalize, float[] expected)
    {
        using var hidden = Hidden();
        using var pooled = EmbeddingPooling.Pool(hidden, [2, 1], pooling, normalize);
        Assert.Equal([2L, 2L], pooled.shape);
        var values = pooled.data<float>().ToArray();
        Assert.True(values.Zip(expected).All(p => Math.Abs(p.First - p.Second) < 1e-6f), $"{pooling}, normalize {normalize}: [{string.Join(", ", values)}], expected [{string.Join(", ", expected)}]");
    }

    [Fact]
    public void LengthsThatDoNotCoverTheRowsAreRefused()
    {
        using var hidden = Hidden();
        var error = Assert.Throws<ArgumentException>(() => EmbeddingPooling.Pool(hidden, [2, 2], PoolingKind.Mean, false));
        Assert.Contains("do not hold the 4 tokens of 2 sequences", error.Message);
    }
}
