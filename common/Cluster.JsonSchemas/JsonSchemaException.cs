namespace Cluster.JsonSchemas;

/// <summary>
/// A schema the compiler cannot hold output to: a keyword it does not support, a malformed value, or a schema that no
/// JSON text satisfies within the compiler's limits. <see cref="Pointer"/> says where (a JSON Pointer into the schema).
/// </summary>
public sealed class JsonSchemaException(string pointer, string problem)
    : Exception($"{(pointer.Length == 0 ? "the schema's root" : pointer)}: {problem}")
{
    /// <summary>Where in the schema (RFC 6901; empty for the root).</summary>
    public string Pointer { get; } = pointer;

    /// <summary>What is wrong there, without the pointer.</summary>
    public string Problem { get; } = problem;
}
