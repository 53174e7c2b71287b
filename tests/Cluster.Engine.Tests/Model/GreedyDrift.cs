using Cluster.Engine.Model;
using TorchSharp;

namespace Cluster.Engine.Tests.Model;

/// <summary>
/// How far a lower-precision model's greedy choices drift from a reference's, teacher-forced on the reference's own
/// greedy continuation so that one early difference does not cascade: at each step, does the other model's argmax
/// equal the reference's, and by what top-1 margin did the reference choose where they differ? Rounding moves logits
/// a little and may flip near-ties; a layout, rotary or cache bug moves them a lot and flips steps the reference is
/// sure about.
/// </summary>
internal static class GreedyDrift
{
    /// <param name="Flips">Each step where the two differ: the reference's token, the other's, the reference's top-1 margin.</param>
    public sealed record Report(int Steps, int Agree, double MaxDeviation, IReadOnlyList<(int Step, int Reference, int Other, float Margin)> Flips)
    {
        public override string ToString() =>
            $"{Agree}/{Steps} agree ({100.0 * Agree / Steps:F1}%), max |Δlogit| {MaxDeviation:F4}" +
            string.Concat(Flips.Select(f => $"; step {f.Step}: reference {f.Reference}, other {f.Other}, reference margin {f.Margin:F3}"));
    }

    public static Report Measure(ModelShard reference, ModelShard other, IReadOnlyList<int> prompt, int steps)
    {
        using var scope = torch.NewDisposeScope();
        using var referenceCache = reference.CreateCache();
        using var otherCache = other.CreateCache();
        var expected = reference.Forward([SequenceChunk.ForTokens(referenceCache, 0, prompt)]); // (1, V)
        var actual = other.Forward([SequenceChunk.ForTokens(otherCache, 0, prompt)]);           // (1, V)
        var (agree, maxDeviation) = (0, 0.0);
        var flips = new List<(int, int, int, float)>();
        for (var step = 0; step < steps; step++)
        {
            var top2 = expected[0].topk(2);
            var margin = (top2.values[0] - top2.values[1]).item<float>();
            var referenceToken = (int)top2.indexes[0].item<long>();
            var otherToken = (int)actual.argmax(-1).item<long>();
            maxDeviation = Math.Max(maxDeviation, (expected - actual).abs().max().item<float>());
            if (referenceToken == otherToken)
            {
                agree++;
            }
            else
            {
                flips.Add((step, referenceToken, otherToken, margin));
            }
            expected = reference.Forward([SequenceChunk.Continue(referenceCache, [referenceToken])]); // (1, V)
            actual = other.Forward([SequenceChunk.Continue(otherCache, [referenceToken])]);           // (1, V)
        }
        return new Report(steps, agree, maxDeviation, flips);
    }
}
