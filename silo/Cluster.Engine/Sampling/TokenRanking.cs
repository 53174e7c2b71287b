namespace Cluster.Engine.Sampling;

/// <summary>
/// The one order every selection in the sampler uses: higher logit first, equal logits by lower token id.
/// Breaking ties by id makes top-k, top-p and the reported alternatives deterministic and independent of the
/// algorithm that found them (heap, sort or scan).
/// </summary>
internal static class TokenRanking
{
    /// <summary>True when token <paramref name="a"/> comes before token <paramref name="b"/>.</summary>
    public static bool RanksAbove(ReadOnlySpan<float> logits, int a, int b)
    {
        float la = logits[a], lb = logits[b];
        return la > lb || (la == lb && a < b);
    }
}
