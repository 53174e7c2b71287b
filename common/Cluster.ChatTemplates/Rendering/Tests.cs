using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Rendering;

/// <summary>Jinja's tests (<c>x is defined</c>, <c>x is string</c>, …), with Jinja's answers for undefined values.</summary>
internal static class Tests
{
    private static readonly Dictionary<string, Func<Value, IReadOnlyList<Value>, bool>> All = new()
    {
        ["defined"] = (v, _) => v is not UndefinedValue,
        ["undefined"] = (v, _) => v is UndefinedValue,
        ["none"] = (v, _) => v is NoneValue,
        ["string"] = (v, _) => v is StringValue,
        ["mapping"] = (v, _) => v is DictValue,
        // Jinja's Undefined iterates (as empty) and has a length, so it passes both.
        ["iterable"] = (v, _) => v is StringValue or ListValue or DictValue or UndefinedValue,
        ["sequence"] = (v, _) => v is StringValue or ListValue or DictValue or UndefinedValue,
        ["number"] = (v, _) => v is IntValue or FloatValue or BoolValue,
        ["integer"] = (v, _) => v is IntValue,
        ["float"] = (v, _) => v is FloatValue,
        ["boolean"] = (v, _) => v is BoolValue,
        ["true"] = (v, _) => v is BoolValue { Flag: true },
        ["false"] = (v, _) => v is BoolValue { Flag: false },
        ["callable"] = (v, _) => v is FunctionValue,
        ["even"] = (v, _) => ValueOperations.AsLong(v) % 2 == 0,
        ["odd"] = (v, _) => ValueOperations.AsLong(v) % 2 != 0,
        ["divisibleby"] = (v, a) => ValueOperations.AsLong(v) % ValueOperations.AsLong(One(a, "divisibleby")) == 0,
        ["equalto"] = (v, a) => ValueOperations.AreEqual(v, One(a, "equalto")),
        ["eq"] = (v, a) => ValueOperations.AreEqual(v, One(a, "eq")),
        ["ne"] = (v, a) => !ValueOperations.AreEqual(v, One(a, "ne")),
        ["lt"] = (v, a) => ValueOperations.Compare(v, One(a, "lt"), "<") < 0,
        ["le"] = (v, a) => ValueOperations.Compare(v, One(a, "le"), "<=") <= 0,
        ["gt"] = (v, a) => ValueOperations.Compare(v, One(a, "gt"), ">") > 0,
        ["ge"] = (v, a) => ValueOperations.Compare(v, One(a, "ge"), ">=") >= 0,
        ["in"] = (v, a) => ValueOperations.Contains(One(a, "in"), v),
        ["sameas"] = (v, a) => ReferenceEquals(v, One(a, "sameas")) || (v is NoneValue && One(a, "sameas") is NoneValue),
        ["lower"] = (v, _) => v is StringValue s && s.Text == s.Text.ToLowerInvariant(),
        ["upper"] = (v, _) => v is StringValue s && s.Text == s.Text.ToUpperInvariant(),
    };

    public static bool IsKnown(string name) => All.ContainsKey(name);

    public static bool Apply(string name, Value value, IReadOnlyList<Value> arguments) => All[name](value, arguments);

    private static Value One(IReadOnlyList<Value> arguments, string test) =>
        arguments.Count == 1 ? arguments[0] : throw new TemplateRuntimeError($"test '{test}' takes one argument, got {arguments.Count}");
}
