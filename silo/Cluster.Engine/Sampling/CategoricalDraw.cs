namespace Cluster.Engine.Sampling;

/// <summary>
/// Draws one token from unnormalized weights by inverse transform: with u uniform in [0, 1), walk the cumulative
/// sum and take the first token whose running total exceeds u · total. Zero-weight tokens can never be taken.
/// </summary>
internal static class CategoricalDraw
{
    /// <summary>Picks among <paramref name="ids"/>, whose weights are aligned with them.</summary>
    public static int Pick(ReadOnlySpan<int> ids, ReadOnlySpan<double> weights, double uniform)
    {
        double total = 0;
        for (int i = 0; i < weights.Length; i++)
            total += weights[i];

        double target = uniform * total;
        double cumulative = 0;
        int lastPositive = -1;
        for (int i = 0; i < weights.Length; i++)
        {
            if (weights[i] <= 0)
                continue;
            cumulative += weights[i];
            lastPositive = i;
            if (cumulative > target)
                return ids[i];
        }
        // Only reached when rounding leaves the running sum a hair below target: take the last possible token.
        return ids[LastPositiveOrThrow(lastPositive)];
    }

    /// <summary>Picks a token id from weights indexed by id (the whole vocabulary); <paramref name="total"/> is their sum.</summary>
    public static int PickById(ReadOnlySpan<double> weightsById, double total, double uniform)
    {
        double target = uniform * total;
        double cumulative = 0;
        int lastPositive = -1;
        for (int id = 0; id < weightsById.Length; id++)
        {
            if (weightsById[id] <= 0)
                continue;
            cumulative += weightsById[id];
            lastPositive = id;
            if (cumulative > target)
                return id;
        }
        return LastPositiveOrThrow(lastPositive);
    }

    private static int LastPositiveOrThrow(int lastPositive) =>
        lastPositive >= 0
            ? lastPositive
            : throw new InvalidOperationException("Every candidate token has probability 0; nothing can be sampled.");
}
