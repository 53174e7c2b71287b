namespace Cluster.ChatTemplates.Values;

/// <summary>Python's semantics of equality, ordering, iteration and arithmetic on template values.</summary>
internal static class ValueOperations
{
    /// <summary>True when the value is a number as Python counts them (bool is an int there: True == 1).</summary>
    public static bool TryNumber(Value value, out double number, out bool isInteger)
    {
        (number, isInteger) = value switch
        {
            IntValue i => ((double)i.Number, true),
            BoolValue b => (b.Flag ? 1 : 0, true),
            FloatValue f => (f.Number, false),
            _ => (double.NaN, false),
        };
        return value is IntValue or BoolValue or FloatValue;
    }

    public static long AsLong(Value value) => value switch
    {
        IntValue i => i.Number,
        BoolValue b => b.Flag ? 1 : 0,
        _ => throw new TemplateRuntimeError($"expected an integer, got {Describe(value)}"),
    };

    public static bool AreEqual(Value a, Value b)
    {
        if (TryNumber(a, out var x, out var xi) && TryNumber(b, out var y, out var yi))
            return xi && yi ? AsLong(a) == AsLong(b) : x == y;
        return (a, b) switch
        {
            (StringValue s, StringValue t) => s.Text == t.Text,
            (NoneValue, NoneValue) => true,
            (UndefinedValue, UndefinedValue) => true,
            (ListValue l, ListValue m) => l.Items.Count == m.Items.Count && l.Items.Zip(m.Items).All(p => AreEqual(p.First, p.Second)),
            (DictValue d, DictValue e) => d.Entries.Count == e.Entries.Count &&
                d.Entries.All(kv => e.Entries.TryGetValue(kv.Key, out var other) && AreEqual(kv.Value, other)),
            _ => ReferenceEquals(a, b),
        };
    }

    /// <summary>Ordering for &lt; &gt; &lt;= &gt;=: numbers with numbers, strings with strings (by code point), lists lexicographically.</summary>
    public static int Compare(Value a, Value b, string op)
    {
        if (TryNumber(a, out var x, out _) && TryNumber(b, out var y, out _)) return x.CompareTo(y);
        if (a is StringValue s && b is StringValue t) return string.CompareOrdinal(s.Text, t.Text);
        if (a is ListValue l && b is ListValue m)
        {
            for (var i = 0; i < Math.Min(l.Items.Count, m.Items.Count); i++)
                if (!AreEqual(l.Items[i], m.Items[i])) return Compare(l.Items[i], m.Items[i], op);
            return l.Items.Count.CompareTo(m.Items.Count);
        }
        throw new TemplateRuntimeError($"'{op}' is not supported between {Describe(a)} and {Describe(b)}");
    }

    /// <summary>What a for loop walks: list items, dict keys, string characters; undefined is empty, as in Jinja.</summary>
    public static IReadOnlyList<Value> Iterate(Value value) => value switch
    {
        ListValue l => l.Items,
        DictValue d => d.Entries.Keys.Select(k => (Value)new StringValue(k)).ToList(),
        StringValue s => s.Text.Select(c => (Value)new StringValue(c.ToString())).ToList(),
        UndefinedValue => [],
        _ => throw new TemplateRuntimeError($"{Describe(value)} is not iterable"),
    };

    public static bool Contains(Value container, Value item) => container switch
    {
        StringValue s => item is StringValue t ? s.Text.Contains(t.Text, StringComparison.Ordinal)
            : throw new TemplateRuntimeError($"'in <string>' requires a string on the left, got {Describe(item)}"),
        ListValue l => l.Items.Any(i => AreEqual(i, item)),
        DictValue d => item is StringValue k && d.Entries.ContainsKey(k.Text),
        NamespaceValue n => item is StringValue k && n.Attributes.ContainsKey(k.Text),
        UndefinedValue => false,
        _ => throw new TemplateRuntimeError($"'in' is not supported on {Describe(container)}"),
    };

    public static Value Arithmetic(string op, Value a, Value b)
    {
        if (a is UndefinedValue u || b is UndefinedValue) throw Undefined((a as UndefinedValue ?? (UndefinedValue)b), op);
        if (TryNumber(a, out var x, out var xi) && TryNumber(b, out var y, out var yi))
        {
            var integers = xi && yi;
            long p = integers ? AsLong(a) : 0, q = integers ? AsLong(b) : 0;
            switch (op)
            {
                case "+": return integers ? new IntValue(p + q) : new FloatValue(x + y);
                case "-": return integers ? new IntValue(p - q) : new FloatValue(x - y);
                case "*": return integers ? new IntValue(p * q) : new FloatValue(x * y);
                case "/": return y == 0 ? throw new TemplateRuntimeError("division by zero") : new FloatValue(x / y);
                case "//":
                    if (y == 0) throw new TemplateRuntimeError("integer division by zero");
                    return integers ? new IntValue(FloorDiv(p, q)) : new FloatValue(Math.Floor(x / y));
                case "%":
                    if (y == 0) throw new TemplateRuntimeError("modulo by zero");
                    return integers ? new IntValue(p - q * FloorDiv(p, q)) : new FloatValue(x - y * Math.Floor(x / y));
                case "**":
                    return integers && q >= 0 ? new IntValue((long)Math.Pow(p, q)) : new FloatValue(Math.Pow(x, y));
            }
        }
        switch (op, a, b)
        {
            case ("+", StringValue s, StringValue t): return new StringValue(s.Text + t.Text);
            case ("+", ListValue l, ListValue m): return new ListValue([.. l.Items, .. m.Items]);
            case ("*", StringValue s, _) when b is IntValue or BoolValue:
                return new StringValue(string.Concat(Enumerable.Repeat(s.Text, (int)Math.Max(0, AsLong(b)))));
            case ("*", ListValue l, _) when b is IntValue or BoolValue:
                return new ListValue(Enumerable.Repeat(l.Items, (int)Math.Max(0, AsLong(b))).SelectMany(i => i).ToList());
        }
        throw new TemplateRuntimeError($"unsupported operand types for {op}: {Describe(a)} and {Describe(b)}");
    }

    private static long FloorDiv(long p, long q)
    {
        var d = p / q;
        return (p % q != 0) && ((p < 0) != (q < 0)) ? d - 1 : d;
    }

    public static TemplateRuntimeError Undefined(UndefinedValue value, string use) =>
        new($"'{value.Name}' is undefined (used in '{use}')");

    /// <summary>"'str' value 'abc'": the type and a short repr, for messages.</summary>
    public static string Describe(Value value)
    {
        var repr = value.ToRepr();
        if (repr.Length > 40) repr = repr[..37] + "...";
        return value is UndefinedValue u ? $"undefined '{u.Name}'" : $"{value.TypeName} {repr}";
    }
}
