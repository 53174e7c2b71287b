namespace Cluster.Contracts.Sampling;

/// <summary>
/// JSON mode (OpenAI's <c>response_format: {"type": "json_object"}</c>): the output is held to one JSON object, after
/// which only the end tokens may come. Equal when the end tokens are equal (arrays alone compare by reference), so the
/// last stage recognises a request's sampler from step to step.
/// </summary>
/// <param name="EndTokenIds">The model's EOS token ids, as the gateway's stop rules know them; at least one.</param>
[GenerateSerializer, Immutable]
public sealed record JsonObjectFormat([property: Id(0)] int[] EndTokenIds)
{
    public bool Equals(JsonObjectFormat? other) => other is not null && EndTokenIds.AsSpan().SequenceEqual(other.EndTokenIds);

    public override int GetHashCode() => EndTokenIds.Length == 0 ? 0 : HashCode.Combine(EndTokenIds.Length, EndTokenIds[0]);
}
