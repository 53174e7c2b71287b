namespace Cluster.ChatTemplates.Values;

/// <summary>
/// A template value: the small object model the interpreter works on (Python's types as Jinja sees them), instead
/// of dynamic, so that every operation states which types it accepts and fails by name on the others.
/// </summary>
internal abstract class Value
{
    /// <summary>Python's truthiness (empty string, 0, empty list, none and undefined are false).</summary>
    public abstract bool IsTrue { get; }

    /// <summary>Python's type name, for error messages.</summary>
    public abstract string TypeName { get; }

    /// <summary>What <c>{{ value }}</c> prints: Python's str().</summary>
    public virtual string ToText() => ToRepr();

    /// <summary>Python's repr(), used for the elements of a printed list or dict.</summary>
    public abstract string ToRepr();

    public override string ToString() => ToText();
}

internal sealed class StringValue(string text) : Value
{
    public static readonly StringValue Empty = new("");

    public string Text { get; } = text;
    public override bool IsTrue => Text.Length > 0;
    public override string TypeName => "str";
    public override string ToText() => Text;
    public override string ToRepr() => PythonFormat.StringRepr(Text);
}

internal sealed class IntValue(long number) : Value
{
    public long Number { get; } = number;
    public override bool IsTrue => Number != 0;
    public override string TypeName => "int";
    public override string ToRepr() => Number.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

internal sealed class FloatValue(double number) : Value
{
    public double Number { get; } = number;
    public override bool IsTrue => Number != 0;
    public override string TypeName => "float";
    public override string ToRepr() => PythonFormat.FloatRepr(Number);
}

internal sealed class BoolValue : Value
{
    public static readonly BoolValue True = new(true);
    public static readonly BoolValue False = new(false);

    private BoolValue(bool flag) => Flag = flag;

    public static BoolValue Of(bool flag) => flag ? True : False;

    public bool Flag { get; }
    public override bool IsTrue => Flag;
    public override string TypeName => "bool";
    public override string ToRepr() => Flag ? "True" : "False";
}

internal sealed class NoneValue : Value
{
    public static readonly NoneValue Instance = new();

    private NoneValue() { }

    public override bool IsTrue => false;
    public override string TypeName => "NoneType";
    public override string ToRepr() => "None";
}

/// <summary>
/// A name or key that does not exist. Like Jinja's default Undefined it prints as nothing, is false and iterates as
/// empty; like ChainableUndefined an attribute or item of it is again undefined. Arithmetic on it fails, naming it.
/// </summary>
internal sealed class UndefinedValue(string name) : Value
{
    /// <summary>What was looked up (<c>message.tool_calls</c>), for the error when it is used.</summary>
    public string Name { get; } = name;
    public override bool IsTrue => false;
    public override string TypeName => "Undefined";
    public override string ToText() => "";
    public override string ToRepr() => "Undefined";
}

/// <summary>A list or tuple; immutable, as HF's ImmutableSandboxedEnvironment forbids <c>append</c> and friends.</summary>
internal sealed class ListValue(IReadOnlyList<Value> items) : Value
{
    public static readonly ListValue Empty = new([]);

    public IReadOnlyList<Value> Items { get; } = items;
    public override bool IsTrue => Items.Count > 0;
    public override string TypeName => "list";
    public override string ToRepr() => "[" + string.Join(", ", Items.Select(i => i.ToRepr())) + "]";
}

/// <summary>A dict with string keys, in insertion order (json.dumps with sort_keys=False keeps that order).</summary>
internal sealed class DictValue(OrderedDictionary<string, Value> entries) : Value
{
    public OrderedDictionary<string, Value> Entries { get; } = entries;
    public override bool IsTrue => Entries.Count > 0;
    public override string TypeName => "dict";
    public override string ToRepr() =>
        "{" + string.Join(", ", Entries.Select(e => PythonFormat.StringRepr(e.Key) + ": " + e.Value.ToRepr())) + "}";
}

/// <summary>Jinja's <c>namespace(...)</c>: the one mutable value, so a loop body can carry state out of the loop.</summary>
internal sealed class NamespaceValue(Dictionary<string, Value> attributes) : Value
{
    public Dictionary<string, Value> Attributes { get; } = attributes;
    public override bool IsTrue => true;
    public override string TypeName => "Namespace";
    public override string ToRepr() =>
        "<Namespace {" + string.Join(", ", Attributes.Select(e => PythonFormat.StringRepr(e.Key) + ": " + e.Value.ToRepr())) + "}>";
}

/// <summary>Something callable: a global function, a macro, or a method bound to its value.</summary>
internal sealed class FunctionValue(string name, Func<Arguments, Value> invoke) : Value
{
    public string Name { get; } = name;
    public Func<Arguments, Value> Invoke { get; } = invoke;
    public override bool IsTrue => true;
    public override string TypeName => "function";
    public override string ToRepr() => $"<function {Name}>";
}
