namespace Cluster.Contracts.Sampling;

/// <summary>
/// JSON mode (OpenAI's <c>response_format: {"type": "json_object"}</c>): the output is held to one JSON object, after
/// which only the end tokens may come; with <see cref="Schema"/>, structured outputs (<c>{"type": "json_schema"}</c>):
/// one JSON value that schema allows. Equal when the end tokens and the schema are equal (arrays alone compare by
/// reference), so the last stage recognises a request's sampler from step to step.
/// </summary>
/// <param name="EndTokenIds">The model's EOS token ids, as the gateway's stop rules know them; at least one.</param>
/// <param name="Schema">The JSON Schema's text, which the gateway compiled before sending it; null for any JSON object.</param>
[GenerateSerializer, Immutable]
public sealed record JsonObjectFormat([property: Id(0)] int[] EndTokenIds, [property: Id(1)] string? Schema = null)
{
    public bool Equals(JsonObjectFormat? other) =>
        other is not null && EndTokenIds.AsSpan().SequenceEqual(other.EndTokenIds) && Schema == other.Schema;

    public override int GetHashCode() => HashCode.Combine(EndTokenIds.Length == 0 ? 0 : EndTokenIds[0], Schema);
}
