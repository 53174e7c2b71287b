namespace Cluster.Contracts.Sampling;

/// <summary>
/// OpenAI's <c>logit_bias</c>, checked: the token ids in ascending order, each with the value added to its logit before
/// every other sampling step. Equal when the pairs are equal (arrays alone compare by reference), so the last stage
/// recognises a request's sampler from step to step instead of rebuilding it.
/// </summary>
/// <param name="TokenIds">Distinct, ascending, in the model's vocabulary.</param>
/// <param name="Biases">One per token id, in [-100, 100].</param>
[GenerateSerializer, Immutable]
public sealed record LogitBias([property: Id(0)] int[] TokenIds, [property: Id(1)] float[] Biases)
{
    public bool Equals(LogitBias? other) =>
        other is not null && TokenIds.AsSpan().SequenceEqual(other.TokenIds) && Biases.AsSpan().SequenceEqual(other.Biases);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(TokenIds.Length);
        foreach (var id in TokenIds)
        {
            hash.Add(id);
        }
        return hash.ToHashCode();
    }
}
