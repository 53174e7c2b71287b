using System.Collections.Concurrent;
using Cluster.Contracts.Sampling;
using Cluster.Engine.Sampling.Json;
using Cluster.JsonSchemas;

namespace Cluster.Silo.Stages;

/// <summary>
/// Structured outputs' compiled schemas and patterns and their token masks, one per vocabulary and schema or pattern
/// text in this silo, so requests that share one (an application sends the same one every time) share its automaton
/// and what each of its states allows. Bounded: past <see cref="MaxTexts"/> the cache starts over (requests keep what
/// they hold).
/// </summary>
internal static class TextAutomatonMasks
{
    private const int MaxTexts = 64;

    private static readonly ConcurrentDictionary<(JsonTokenTable Table, string? Schema, string? Pattern), Lazy<GrammarMasks<int, TextAutomatonGrammar>>> Masks = new();

    /// <summary>
    /// The masks of <paramref name="format"/>'s schema or pattern over <paramref name="table"/>'s vocabulary (compiled on
    /// first use; the gateway compiled it already).
    /// </summary>
    public static GrammarMasks<int, TextAutomatonGrammar> For(JsonTokenTable table, OutputFormat format)
    {
        var key = (table, format.Schema, format.Pattern);
        if (Masks.Count >= MaxTexts && !Masks.ContainsKey(key))
        {
            Masks.Clear();
        }
        return Masks.GetOrAdd(key, k => new Lazy<GrammarMasks<int, TextAutomatonGrammar>>(() => new(k.Table, new TextAutomatonGrammar(
            k.Schema is not null ? TextAutomaton.FromJsonSchema(k.Schema) : TextAutomaton.FromPattern(k.Pattern!))))).Value;
    }
}
