using System.Globalization;
using System.Text;
using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Rendering;

/// <summary>
/// The filters of Jinja that chat templates use, with Jinja's semantics, and transformers' own <c>tojson</c>
/// (json.dumps with ensure_ascii=False: no HTML escaping, non-ASCII kept). The parser refuses any other name.
/// </summary>
internal static class Filters
{
    private static readonly Dictionary<string, Func<Value, Arguments, Value>> All = new()
    {
        ["trim"] = (v, a) => Str(StringMethods.Strip(v.ToText(), a.Expect("chars").Get(0, "chars") is StringValue c ? c.Text : null, true, true)),
        ["tojson"] = ToJson,
        ["length"] = (v, a) => new IntValue(Length(v)),
        ["count"] = (v, a) => new IntValue(Length(v)),
        ["upper"] = (v, a) => Str(v.ToText().ToUpperInvariant()),
        ["lower"] = (v, a) => Str(v.ToText().ToLowerInvariant()),
        ["title"] = (v, a) => Str(JinjaTitle(v.ToText())),
        ["capitalize"] = (v, a) => Str(StringMethods.Capitalize(v.ToText())),
        ["replace"] = (v, a) => Str(StringMethods.Replace(v.ToText(), a.Expect("old", "new", "count").Required(0, "old").ToText(),
            a.Required(1, "new").ToText(), a.Get(2, "count") is { } n and not NoneValue ? ValueOperations.AsLong(n) : -1)),
        ["default"] = Default,
        ["d"] = Default,
        ["first"] = (v, a) => ValueOperations.Iterate(v) is { Count: > 0 } items ? items[0] : new UndefinedValue("first of an empty sequence"),
        ["last"] = (v, a) => ValueOperations.Iterate(v) is { Count: > 0 } items ? items[^1] : new UndefinedValue("last of an empty sequence"),
        ["join"] = (v, a) => Str(string.Join(a.Expect("d", "attribute").Get(0, "d", StringValue.Empty).ToText(),
            Attribute(ValueOperations.Iterate(v), a.Get(1, "attribute")).Select(i => i.ToText()))),
        ["list"] = (v, a) => new ListValue(ValueOperations.Iterate(v).ToList()),
        ["string"] = (v, a) => v as StringValue ?? Str(v.ToText()),
        ["int"] = ToInt,
        ["float"] = ToFloat,
        ["items"] = (v, a) => v switch
        {
            DictValue d => DictMethods.Items(d),
            UndefinedValue => ListValue.Empty,
            _ => throw new TemplateRuntimeError($"items: expected a mapping, got {ValueOperations.Describe(v)}"),
        },
        ["map"] = Map,
        ["selectattr"] = (v, a) => Select(v, a, byAttribute: true, keep: true),
        ["rejectattr"] = (v, a) => Select(v, a, byAttribute: true, keep: false),
        ["select"] = (v, a) => Select(v, a, byAttribute: false, keep: true),
        ["reject"] = (v, a) => Select(v, a, byAttribute: false, keep: false),
        ["safe"] = (v, a) => v,
        ["escape"] = (v, a) => Str(Escape(v.ToText())),
        ["e"] = (v, a) => Str(Escape(v.ToText())),
        ["abs"] = (v, a) => v is FloatValue f ? new FloatValue(Math.Abs(f.Number)) : new IntValue(Math.Abs(ValueOperations.AsLong(v))),
        ["reverse"] = (v, a) => v is StringValue s ? Str(string.Concat(s.Text.EnumerateRunes().Reverse().Select(r => r.ToString())))
            : new ListValue(ValueOperations.Iterate(v).Reverse().ToList()),
        ["unique"] = (v, a) => new ListValue(ValueOperations.Iterate(v).Aggregate(new List<Value>(), (kept, item) =>
        {
            if (!kept.Any(k => ValueOperations.AreEqual(k, item))) kept.Add(item);
            return kept;
        })),
        ["indent"] = Indent,
        ["sum"] = (v, a) => Attribute(ValueOperations.Iterate(v), a.Expect("attribute", "start").Get(0, "attribute"))
            .Aggregate(a.Get(1, "start", new IntValue(0)), (total, item) => ValueOperations.Arithmetic("+", total, item)),
        ["min"] = (v, a) => Extreme(v, -1),
        ["max"] = (v, a) => Extreme(v, 1),
    };

    public static bool IsKnown(string name) => All.ContainsKey(name);

    public static Value Apply(string name, Value value, Arguments arguments) => All[name](value, arguments);

    private static StringValue Str(string text) => ValueConversion.String(text);

    /// <summary>transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).</summary>
    private static Value ToJson(Value value, Arguments a)
    {
        a.Expect("ensure_ascii", "indent", "separators", "sort_keys");
        var indent = a.Get(1, "indent") switch
        {
            null or NoneValue => null,
            StringValue s => s.Text,
            var n => new string(' ', (int)Math.Max(0, ValueOperations.AsLong(n))),
        };
        var (itemSeparator, keySeparator) = a.Get(2, "separators") switch
        {
            null or NoneValue => (indent is null ? ", " : ",", ": "),
            ListValue { Items: [StringValue i, StringValue k] } => (i.Text, k.Text),
            var s => throw new TemplateRuntimeError($"tojson: separators must be a pair of strings, got {ValueOperations.Describe(s)}"),
        };
        return Str(PythonJson.Dumps(value, new PythonJson.Options(indent, itemSeparator, keySeparator,
            a.Get(0, "ensure_ascii", BoolValue.False).IsTrue, a.Get(3, "sort_keys", BoolValue.False).IsTrue)));
    }

    private static long Length(Value v) => v switch
    {
        StringValue s => s.Text.EnumerateRunes().Count(), // Python counts code points
        ListValue l => l.Items.Count,
        DictValue d => d.Entries.Count,
        NamespaceValue n => n.Attributes.Count,
        UndefinedValue => 0,
        _ => throw new TemplateRuntimeError($"length: {ValueOperations.Describe(v)} has no length"),
    };

    /// <summary>default(value, default_value='', boolean=False): replaces undefined, or any false value when boolean.</summary>
    private static Value Default(Value v, Arguments a)
    {
        a.Expect("default_value", "boolean");
        var replace = v is UndefinedValue || (a.Get(1, "boolean", BoolValue.False).IsTrue && !v.IsTrue);
        return replace ? a.Get(0, "default_value", StringValue.Empty) : v;
    }

    private static Value ToInt(Value v, Arguments a)
    {
        a.Expect("default", "base");
        var fallback = a.Get(0, "default", new IntValue(0));
        switch (v)
        {
            case IntValue: return v;
            case BoolValue b: return new IntValue(b.Flag ? 1 : 0);
            case FloatValue f: return double.IsFinite(f.Number) ? new IntValue((long)Math.Truncate(f.Number)) : fallback;
            case StringValue s:
                var text = s.Text.Trim().Replace("_", "");
                var numberBase = (int)ValueOperations.AsLong(a.Get(1, "base", new IntValue(10)));
                if (numberBase == 10 && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i)) return new IntValue(i);
                if (numberBase != 10)
                {
                    try { return new IntValue(Convert.ToInt64(text, numberBase)); } catch (Exception e) when (e is FormatException or ArgumentException or OverflowException) { }
                }
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
                    ? new IntValue((long)Math.Truncate(d)) : fallback;
            default: return fallback;
        }
    }

    private static Value ToFloat(Value v, Arguments a)
    {
        a.Expect("default");
        var fallback = a.Get(0, "default", new FloatValue(0));
        return v switch
        {
            FloatValue => v,
            IntValue or BoolValue => new FloatValue(ValueOperations.AsLong(v)),
            StringValue s when double.TryParse(s.Text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => new FloatValue(d),
            _ => fallback,
        };
    }

    /// <summary>Each item's attribute (a dotted path, or an index) when one is given, else the items themselves.</summary>
    private static IEnumerable<Value> Attribute(IEnumerable<Value> items, Value? attribute, Value? fallback = null) =>
        attribute is null or NoneValue ? items : items.Select(i => Lookup(i, attribute, fallback));

    private static Value Lookup(Value item, Value attribute, Value? fallback)
    {
        Value result = item;
        if (attribute is IntValue index) result = Members.GetItem(item, index, "attribute");
        else
            foreach (var part in attribute.ToText().Split('.'))
                result = int.TryParse(part, out var i) && result is ListValue
                    ? Members.GetItem(result, new IntValue(i), part)
                    : Members.GetAttribute(result, part, part);
        return result is UndefinedValue && fallback is not null ? fallback : result;
    }

    /// <summary>map(attribute='name'[, default=…]) or map('filter', args…).</summary>
    private static Value Map(Value v, Arguments a)
    {
        var items = ValueOperations.Iterate(v);
        if (a.Named.TryGetValue("attribute", out var attribute))
            return new ListValue(Attribute(items, attribute, a.Named.GetValueOrDefault("default")).ToList());
        if (a.Positional.Count == 0 || a.Positional[0] is not StringValue filter)
            throw new TemplateRuntimeError("map: expected attribute='…' or a filter name");
        if (!IsKnown(filter.Text)) throw new TemplateRuntimeError($"map: unknown filter '{filter.Text}'");
        var rest = new Arguments(filter.Text, a.Positional.Skip(1).ToList(), a.Named);
        return new ListValue(items.Select(i => Apply(filter.Text, i, rest)).ToList());
    }

    /// <summary>selectattr/rejectattr(attribute[, test, args…]) and select/reject([test, args…]); no test means truthiness.</summary>
    private static Value Select(Value v, Arguments a, bool byAttribute, bool keep)
    {
        var position = 0;
        Value? attribute = null;
        if (byAttribute)
        {
            attribute = a.Positional.Count > 0 ? a.Positional[0] : throw new TemplateRuntimeError("selectattr/rejectattr need an attribute name");
            position = 1;
        }
        string? test = null;
        if (a.Positional.Count > position)
        {
            test = a.Positional[position].ToText();
            if (!Tests.IsKnown(test)) throw new TemplateRuntimeError($"unknown test '{test}'");
        }
        var testArguments = a.Positional.Skip(position + 1).ToList();
        var kept = ValueOperations.Iterate(v).Where(item =>
        {
            var subject = attribute is null ? item : Lookup(item, attribute, null);
            var passed = test is null ? subject.IsTrue : Tests.Apply(test, subject, testArguments);
            return passed == keep;
        });
        return new ListValue(kept.ToList());
    }

    private static string Escape(string s) => s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;")
        .Replace("\"", "&#34;").Replace("'", "&#39;");

    /// <summary>Jinja's title filter: capitalizes each word, words split at whitespace and -({[&lt;.</summary>
    private static string JinjaTitle(string s)
    {
        var sb = new StringBuilder(s.Length);
        var wordStart = true;
        foreach (var c in s)
        {
            var separator = char.IsWhiteSpace(c) || c is '-' or '(' or '{' or '[' or '<';
            sb.Append(separator ? c : wordStart ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            wordStart = separator;
        }
        return sb.ToString();
    }

    /// <summary>indent(width=4, first=False, blank=False): indents every line but the first (and blank lines) by width.</summary>
    private static Value Indent(Value v, Arguments a)
    {
        a.Expect("width", "first", "blank");
        var width = a.Get(0, "width", new IntValue(4));
        var prefix = width is StringValue s ? s.Text : new string(' ', (int)ValueOperations.AsLong(width));
        var lines = v.ToText().Split('\n');
        var first = a.Get(1, "first", BoolValue.False).IsTrue;
        var blank = a.Get(2, "blank", BoolValue.False).IsTrue;
        for (var i = 0; i < lines.Length; i++)
            if ((i > 0 || first) && (blank || lines[i].Trim().Length > 0)) lines[i] = prefix + lines[i];
        return Str(string.Join('\n', lines));
    }

    private static Value Extreme(Value v, int sign)
    {
        var items = ValueOperations.Iterate(v);
        if (items.Count == 0) return new UndefinedValue("min/max of an empty sequence");
        return items.Aggregate((best, item) => ValueOperations.Compare(item, best, sign > 0 ? ">" : "<") * sign > 0 ? item : best);
    }
}
