using Cluster.Engine.Sampling;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>A sampler run on the same logits step after step, as the constrained-output tests drive one.</summary>
internal static class FixedLogitsGeneration
{
    /// <summary>Draws <paramref name="steps"/> tokens after <paramref name="alreadyGenerated"/> (the request's output so far).</summary>
    public static List<int> Generate(TokenSampler sampler, float[] logits, List<int> alreadyGenerated, int steps)
    {
        var history = new List<int>(alreadyGenerated);
        var drawn = new List<int>();
        for (var i = 0; i < steps; i++)
        {
            var id = sampler.Sample(logits, history).TokenId;
            drawn.Add(id);
            history.Add(id);
        }
        return drawn;
    }
}
