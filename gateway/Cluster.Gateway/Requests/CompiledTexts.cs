using System.Collections.Concurrent;
using Cluster.JsonSchemas;

namespace Cluster.Gateway.Requests;

/// <summary>
/// Schemas and patterns the gateway has compiled without error lately, so a request that sends the same one as the
/// last (an application sends its schema or its tools with every request) is not compiled again (a few ms each);
/// past <see cref="MaxTexts"/> the set starts over. The one place the gateway compiles them: response_format's
/// schema or regex, and a required tool call's schema.
/// </summary>
internal static class CompiledTexts
{
    private const int MaxTexts = 256;

    private static readonly ConcurrentDictionary<(bool Pattern, string Text), byte> Accepted = new();

    /// <exception cref="JsonSchemaException">The schema cannot be held (not cached).</exception>
    public static void CheckSchema(string schema) => Check(false, schema, TextAutomaton.FromJsonSchema);

    /// <exception cref="JsonSchemaException">The pattern cannot be held (not cached).</exception>
    public static void CheckPattern(string pattern) => Check(true, pattern, TextAutomaton.FromPattern);

    private static void Check(bool pattern, string text, Func<string, TextAutomaton> compile)
    {
        if (Accepted.ContainsKey((pattern, text)))
        {
            return;
        }
        compile(text);
        if (Accepted.Count >= MaxTexts)
        {
            Accepted.Clear();
        }
        Accepted[(pattern, text)] = 0;
    }
}
