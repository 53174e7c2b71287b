namespace Cluster.Engine.Sampling.Json;

/// <summary>JSON mode's language: one JSON object (<see cref="JsonPrefixState"/>), nothing after it.</summary>
public readonly struct JsonObjectGrammar : IByteGrammar<JsonPrefixState>
{
    public JsonPrefixState Start => default;

    public bool Feed(ref JsonPrefixState state, byte b) => state.Feed(b);

    public bool CanEnd(JsonPrefixState state) => state.IsComplete;
}
