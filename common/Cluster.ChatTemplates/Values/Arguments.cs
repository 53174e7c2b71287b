namespace Cluster.ChatTemplates.Values;

/// <summary>The arguments of a call, a filter or a test: positional then keyword, read Python-style by position or name.</summary>
internal sealed class Arguments(string callee, IReadOnlyList<Value> positional, IReadOnlyDictionary<string, Value> named)
{
    public static readonly IReadOnlyDictionary<string, Value> NoNames = new Dictionary<string, Value>();

    public string Callee { get; } = callee;
    public IReadOnlyList<Value> Positional { get; } = positional;
    public IReadOnlyDictionary<string, Value> Named { get; } = named;

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, else null.</summary>
    public Value? Get(int index, string name) =>
        index < Positional.Count ? Positional[index] : Named.TryGetValue(name, out var v) ? v : null;

    public Value Get(int index, string name, Value fallback) => Get(index, name) ?? fallback;

    public Value Required(int index, string name) =>
        Get(index, name) ?? throw new TemplateRuntimeError($"{Callee}() is missing its argument '{name}'");

    public string RequiredString(int index, string name) =>
        Required(index, name) is StringValue s ? s.Text : throw new TemplateRuntimeError($"{Callee}()'s argument '{name}' must be a string");

    /// <summary>Fails on more positional arguments than the callee takes, or on a keyword it does not know.</summary>
    public Arguments Expect(params string[] names)
    {
        if (Positional.Count > names.Length)
            throw new TemplateRuntimeError($"{Callee}() takes at most {names.Length} arguments, got {Positional.Count}");
        foreach (var key in Named.Keys)
            if (!names.Contains(key))
                throw new TemplateRuntimeError($"{Callee}() got an unexpected keyword argument '{key}'");
        return this;
    }
}

/// <summary>A failure while rendering, without a position; the renderer adds the template line and column.</summary>
internal sealed class TemplateRuntimeError(string message, bool raisedByTemplate = false) : Exception(message)
{
    public bool RaisedByTemplate { get; } = raisedByTemplate;
}
