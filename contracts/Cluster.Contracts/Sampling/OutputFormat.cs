namespace Cluster.Contracts.Sampling;

/// <summary>
/// What the output must be, held token by token on the last stage, after which only the end tokens may come: one JSON
/// object (JSON mode, OpenAI's <c>response_format: {"type": "json_object"}</c>) when neither <see cref="Schema"/> nor
/// <see cref="Pattern"/> is set; a value <see cref="Schema"/> allows (structured outputs, <c>json_schema</c>); or a text
/// <see cref="Pattern"/> matches whole (vLLM's guided_regex and guided_choice). Equal when every field is equal (arrays
/// alone compare by reference), so the last stage recognises a request's sampler from step to step.
/// </summary>
/// <param name="EndTokenIds">The model's EOS token ids, as the gateway's stop rules know them; at least one.</param>
/// <param name="Schema">A JSON Schema's text, which the gateway compiled before sending it.</param>
/// <param name="Pattern">A regular expression, which the gateway compiled before sending it; never with a schema.</param>
[GenerateSerializer, Immutable]
public sealed record OutputFormat([property: Id(0)] int[] EndTokenIds, [property: Id(1)] string? Schema = null, [property: Id(2)] string? Pattern = null)
{
    public bool Equals(OutputFormat? other) =>
        other is not null && EndTokenIds.AsSpan().SequenceEqual(other.EndTokenIds) && Schema == other.Schema && Pattern == other.Pattern;

    public override int GetHashCode() => HashCode.Combine(EndTokenIds.Length == 0 ? 0 : EndTokenIds[0], Schema, Pattern);
}
