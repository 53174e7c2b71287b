using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// What a model uses to know word order, and what it does, as a similarity-by-relative-distance curve.
/// Rotary (Llama family): <see cref="Frequencies"/> are the rotation speeds, radians per position, one per pair of a
/// head's dimensions (after any rope_scaling), and the curve is the cosine similarity of a fixed query and key
/// (both all ones) rotated <c>distance</c> positions apart: the mean of cos(distance × frequency), which decays and
/// ripples with distance. Learned (GPT-2): the curve is the mean cosine similarity of the position table's rows
/// <c>distance</c> apart, over the first <see cref="MaxLearnedPositions"/> positions.
/// </summary>
public sealed record PositionProfile(bool Rotary, double RopeTheta, int HeadDimension, float[] Frequencies, int Positions, int[] Distances, float[] Similarities)
{
    /// <summary>Bounds the (P, P) Gram matrix of the learned curve (4 MB of fp32).</summary>
    public const int MaxLearnedPositions = 1024;

    /// <summary>Every distance up to 256, then about 5% apart, up to <paramref name="maxDistance"/>: fine where curves move fast, sparse where they settle.</summary>
    public static int[] CurveDistances(int maxDistance)
    {
        var distances = new List<int>();
        for (var d = 0; d <= maxDistance; d = d < 256 ? d + 1 : (int)Math.Ceiling(d * 1.05))
        {
            distances.Add(d);
        }
        if (distances[^1] != maxDistance)
        {
            distances.Add(maxDistance);
        }
        return [.. distances];
    }

    /// <summary>The rotary curve: cos similarity of q = k = (1, …, 1) rotated d positions apart is the mean over pairs of cos(d·θ).</summary>
    public static PositionProfile ForRotary(double ropeTheta, int headDimension, float[] frequencies, int positions)
    {
        var distances = CurveDistances(positions - 1);
        var similarities = distances.Select(d => (float)frequencies.Average(f => Math.Cos(d * (double)f))).ToArray();
        return new PositionProfile(true, ropeTheta, headDimension, frequencies, positions, distances, similarities);
    }

    /// <summary>The learned curve: mean over i of cos(wpe[i], wpe[i + d]), from the Gram matrix of the unit rows.</summary>
    /// <param name="positionWeight">(P, H), any dtype and device.</param>
    public static PositionProfile ForLearned(Tensor positionWeight)
    {
        using var scope = NewDisposeScope();
        using var inference = inference_mode();
        var count = (int)Math.Min(positionWeight.shape[0], MaxLearnedPositions);
        var unit = nn.functional.normalize(positionWeight.narrow(0, 0, count).to_type(ScalarType.Float32), p: 2, dim: 1); // (P', H)
        var gram = unit.matmul(unit.t()).cpu(); // (P', P'), gram[i, j] = cos(wpe[i], wpe[j])
        var distances = CurveDistances(count - 1);
        var similarities = distances.Select(d => gram.diagonal(d).mean().item<float>()).ToArray();
        return new PositionProfile(false, 0, 0, [], (int)positionWeight.shape[0], distances, similarities);
    }
}
