namespace Cluster.JsonSchemas;

/// <summary>What a schema and the text held to it may be; each limit is documented where the API names structured outputs.</summary>
public static class JsonSchemaLimits
{
    /// <summary>The longest schema text accepted, in characters.</summary>
    public const int MaxSchemaLength = 65_536;

    /// <summary>How deep subschemas may nest in the schema text.</summary>
    public const int MaxSchemaDepth = 64;

    /// <summary>The most states the compiled automaton may have (a schema past it is refused as too large).</summary>
    public const int MaxAutomatonStates = 250_000;

    /// <summary>
    /// The most distinct states an automaton may reach while serving (each costs a 1 KiB transition row, so at most
    /// about 50 MiB an automaton); past it, what would need a new state is refused and the request ends.
    /// </summary>
    public const int MaxReachedStates = 50_000;

    /// <summary>How many levels a recursive schema (a <c>$ref</c> to an enclosing schema) is unrolled.</summary>
    public const int MaxRecursion = 4;

    /// <summary>How deep arrays and objects nest inside a value the schema leaves free (true, {}, items or additionalProperties absent).</summary>
    public const int FreeFormDepth = 4;

    /// <summary>
    /// Whitespace between the tokens of the JSON text is none, one space, or a newline and at most this many spaces or
    /// tabs (llama.cpp's rule in its json-schema-to-grammar).
    /// </summary>
    public const int MaxIndent = 20;
}
