using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Tests.Model;

/// <summary>The positions curves Inspect shows: what rotary embeddings and learned position tables do with distance.</summary>
public sealed class PositionProfileTests
{
    private static readonly ModelConfig Llama = new()
    {
        Architecture = ModelArchitecture.Llama, ModelType = "llama", VocabularySize = 10, HiddenSize = 16, LayerCount = 1,
        HeadCount = 2, KeyValueHeadCount = 2, HeadDimension = 8, IntermediateSize = 32, MaxPositionEmbeddings = 600,
        NormEpsilon = 1e-5, RopeTheta = 500, TieWordEmbeddings = true,
    };

    [Fact]
    public void TheRotaryCurveIsTheCosineOfAQueryAndKeyRotatedByTheModelsOwnRotation()
    {
        var profile = PositionProfile.ForRotary(Llama.RopeTheta, Llama.HeadDimension, RotaryEmbedding.InverseFrequencies(Llama), Llama.MaxPositionEmbeddings);
        using var rotary = new RotaryEmbedding(Llama, ScalarType.Float32, CPU);
        var ones = torch.ones(1, 1, Llama.HeadDimension); // (T=1, heads=1, headDim): the fixed query and key
        const int KeyPosition = 7;
        using var key = rotary.Apply(ones, torch.tensor(new long[] { KeyPosition }));
        foreach (var i in new[] { 0, 1, 5, 40, 255, 260, profile.Distances.Length - 2 })
        {
            var distance = profile.Distances[i];
            if (KeyPosition + distance >= Llama.MaxPositionEmbeddings)
            {
                continue;
            }
            using var query = rotary.Apply(ones, torch.tensor(new long[] { KeyPosition + distance }));
            var cosine = query.mul(key).sum().item<float>() / Llama.HeadDimension; // |q| = |k| = √headDim
            Assert.True(Math.Abs(cosine - profile.Similarities[i]) < 1e-4, $"distance {distance}: rotated vectors' cosine {cosine}, curve {profile.Similarities[i]}");
        }
        Assert.Equal(1f, profile.Similarities[0], 6);
        Assert.True(profile.Rotary);
        Assert.Equal(Llama.HeadDimension / 2, profile.Frequencies.Length);
    }

    [Fact]
    public void TheLearnedCurveIsTheMeanCosineOfPositionVectorsThatFarApart()
    {
        torch.manual_seed(3);
        using var table = torch.randn(40, 6); // (P, H)
        var profile = PositionProfile.ForLearned(table);
        var rows = Enumerable.Range(0, 40).Select(i => table[i].data<float>().ToArray()).ToArray();
        static double Cosine(float[] a, float[] b) =>
            a.Zip(b).Sum(p => (double)p.First * p.Second) / Math.Sqrt(a.Sum(v => (double)v * v) * b.Sum(v => (double)v * v));
        for (var i = 0; i < profile.Distances.Length; i++)
        {
            var d = profile.Distances[i];
            var expected = Enumerable.Range(0, 40 - d).Average(p => Cosine(rows[p], rows[p + d]));
            Assert.True(Math.Abs(expected - profile.Similarities[i]) < 1e-4, $"distance {d}: mean cosine {expected}, curve {profile.Similarities[i]}");
        }
        Assert.False(profile.Rotary);
        Assert.Equal(40, profile.Positions);
        Assert.Equal(39, profile.Distances[^1]);
    }

    [Fact]
    public void CurveDistancesAreEveryStepUpTo256ThenSparserUpToTheEnd()
    {
        var distances = PositionProfile.CurveDistances(32767);
        Assert.Equal(Enumerable.Range(0, 257), distances.Take(257));
        Assert.Equal(32767, distances[^1]);
        Assert.True(distances.Zip(distances.Skip(1)).All(p => p.Second > p.First), $"not increasing: {string.Join(", ", distances)}");
        Assert.True(distances.Length < 400, $"{distances.Length} points");
    }
}
