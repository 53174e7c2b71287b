using System.Collections.Concurrent;
using Cluster.Engine.Sampling.Json;
using Cluster.JsonSchemas;

namespace Cluster.Silo.Stages;

/// <summary>
/// Structured outputs' compiled schemas and their token masks, one per vocabulary and schema text in this silo, so
/// requests that share a schema (an application sends the same one every time) share its automaton and what each of
/// its states allows. Bounded: past <see cref="MaxSchemas"/> the cache starts over (requests keep what they hold).
/// </summary>
internal static class JsonSchemaMasks
{
    private const int MaxSchemas = 64;

    private static readonly ConcurrentDictionary<(JsonTokenTable Table, string Schema), Lazy<GrammarMasks<int, JsonSchemaGrammar>>> Masks = new();

    /// <summary>The masks of <paramref name="schema"/> over <paramref name="table"/>'s vocabulary (compiled on first use; the gateway compiled it already).</summary>
    public static GrammarMasks<int, JsonSchemaGrammar> For(JsonTokenTable table, string schema)
    {
        if (Masks.Count >= MaxSchemas && !Masks.ContainsKey((table, schema)))
        {
            Masks.Clear();
        }
        return Masks.GetOrAdd((table, schema), key => new Lazy<GrammarMasks<int, JsonSchemaGrammar>>(
            () => new(key.Table, new JsonSchemaGrammar(JsonSchemaAutomaton.Compile(key.Schema))))).Value;
    }
}
