using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Rendering;

/// <summary>
/// Variables visible at one point of the template. A for loop or a macro call opens a child scope, so a
/// <c>{% set %}</c> inside a loop does not change the variable outside it (Jinja's rule, the reason templates use
/// <c>namespace()</c>); if blocks do not open one.
/// </summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Dictionary<string, Value> _variables = [];

    public Value Lookup(string name)
    {
        for (var scope = this; scope is not null; scope = scope.Parent)
            if (scope._variables.TryGetValue(name, out var value)) return value;
        return new UndefinedValue(name);
    }

    public void Set(string name, Value value) => _variables[name] = value;

    public Scope? Parent { get; } = parent;
}
