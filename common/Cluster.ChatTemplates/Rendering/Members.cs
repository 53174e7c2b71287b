using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Rendering;

/// <summary>
/// Attribute, item and slice access. Like Jinja, <c>x.name</c> tries a method first and then the key (so
/// <c>message.content</c> reads the dict), <c>x['name']</c> tries the key; what is missing is undefined, and
/// anything looked up on undefined is undefined again (chainable), so <c>message.tool_calls.x is defined</c> is false.
/// </summary>
internal static class Members
{
    public static Value GetAttribute(Value target, string name, string path)
    {
        switch (target)
        {
            case UndefinedValue:
                return new UndefinedValue(path);
            case DictValue d:
                if (DictMethods.TryBind(d, name, out var dictMethod)) return dictMethod;
                return d.Entries.TryGetValue(name, out var entry) ? entry : new UndefinedValue(path);
            case StringValue s:
                return StringMethods.TryBind(s, name, out var stringMethod) ? stringMethod : new UndefinedValue(path);
            case NamespaceValue n:
                return n.Attributes.TryGetValue(name, out var attribute) ? attribute : new UndefinedValue(path);
            default:
                return new UndefinedValue(path);
        }
    }

    public static Value GetItem(Value target, Value index, string path)
    {
        switch (target, index)
        {
            case (UndefinedValue, _):
                return new UndefinedValue(path);
            case (DictValue d, StringValue key):
                return d.Entries.TryGetValue(key.Text, out var entry) ? entry : new UndefinedValue(path);
            case (NamespaceValue, StringValue key):
                return GetAttribute(target, key.Text, path);
            case (ListValue l, IntValue or BoolValue):
                var i = ValueOperations.AsLong(index);
                if (i < 0) i += l.Items.Count;
                return i >= 0 && i < l.Items.Count ? l.Items[(int)i] : new UndefinedValue(path);
            case (StringValue s, IntValue or BoolValue):
                var runes = s.Text.EnumerateRunes().ToList(); // Python indexes code points, not UTF-16 units
                var c = ValueOperations.AsLong(index);
                if (c < 0) c += runes.Count;
                return c >= 0 && c < runes.Count ? new StringValue(runes[(int)c].ToString()) : new UndefinedValue(path);
            default:
                return new UndefinedValue(path);
        }
    }

    /// <summary>Python's slice on lists and strings, including negative bounds and steps (<c>[::-1]</c> reverses).</summary>
    public static Value Slice(Value target, Value? start, Value? stop, Value? step)
    {
        var stride = step is null or NoneValue ? 1 : ValueOperations.AsLong(step);
        if (stride == 0) throw new TemplateRuntimeError("slice step cannot be zero");
        switch (target)
        {
            case ListValue l:
                return new ListValue(Indices(l.Items.Count, start, stop, stride).Select(i => l.Items[i]).ToList());
            case StringValue s:
                var runes = s.Text.EnumerateRunes().ToList();
                return new StringValue(string.Concat(Indices(runes.Count, start, stop, stride).Select(i => runes[i].ToString())));
            case UndefinedValue u:
                return u;
            default:
                throw new TemplateRuntimeError($"{ValueOperations.Describe(target)} cannot be sliced");
        }
    }

    private static IEnumerable<int> Indices(int length, Value? start, Value? stop, long step)
    {
        // CPython's PySlice_AdjustIndices.
        long Bound(Value? v, long fallback, long low, long high)
        {
            if (v is null or NoneValue) return fallback;
            var x = ValueOperations.AsLong(v);
            if (x < 0) x += length;
            return Math.Clamp(x, low, high);
        }
        long first, last;
        if (step > 0)
        {
            first = Bound(start, 0, 0, length);
            last = Bound(stop, length, 0, length);
            for (var i = first; i < last; i += step) yield return (int)i;
        }
        else
        {
            first = Bound(start, length - 1, -1, length - 1);
            last = Bound(stop, -1, -1, length - 1);
            for (var i = first; i > last; i += step) yield return (int)i;
        }
    }
}
