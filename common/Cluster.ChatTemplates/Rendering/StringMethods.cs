using System.Text;
using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Rendering;

/// <summary>The Python str methods templates call (<c>content.strip()</c>, <c>content.split('</think>')</c>, …).</summary>
internal static class StringMethods
{
    private static readonly Dictionary<string, Func<string, Arguments, Value>> Methods = new()
    {
        ["strip"] = (s, a) => Str(Strip(s, Chars(a.Expect("chars")), true, true)),
        ["lstrip"] = (s, a) => Str(Strip(s, Chars(a.Expect("chars")), true, false)),
        ["rstrip"] = (s, a) => Str(Strip(s, Chars(a.Expect("chars")), false, true)),
        ["split"] = (s, a) => Split(s, a.Expect("sep", "maxsplit")),
        ["startswith"] = (s, a) => BoolValue.Of(Affixes(a.Expect("prefix"), "prefix").Any(p => s.StartsWith(p, StringComparison.Ordinal))),
        ["endswith"] = (s, a) => BoolValue.Of(Affixes(a.Expect("suffix"), "suffix").Any(p => s.EndsWith(p, StringComparison.Ordinal))),
        ["upper"] = (s, a) => Str(s.ToUpperInvariant()),
        ["lower"] = (s, a) => Str(s.ToLowerInvariant()),
        ["title"] = (s, a) => Str(Title(s)),
        ["capitalize"] = (s, a) => Str(Capitalize(s)),
        ["replace"] = (s, a) => Str(Replace(s, a.Expect("old", "new", "count").RequiredString(0, "old"), a.RequiredString(1, "new"),
            a.Get(2, "count") is { } c ? ValueOperations.AsLong(c) : -1)),
        ["find"] = (s, a) => new IntValue(s.IndexOf(a.Expect("sub").RequiredString(0, "sub"), StringComparison.Ordinal)),
        ["count"] = (s, a) => new IntValue(Count(s, a.Expect("sub").RequiredString(0, "sub"))),
        ["join"] = (s, a) => Str(string.Join(s, ValueOperations.Iterate(a.Expect("iterable").Required(0, "iterable")).Select(v =>
            v is StringValue t ? t.Text : throw new TemplateRuntimeError($"str.join() expects strings, got {ValueOperations.Describe(v)}")))),
        ["splitlines"] = (s, a) => new ListValue(s.Split('\n').Select(l => (Value)Str(l)).ToList()),
        ["isdigit"] = (s, a) => BoolValue.Of(s.Length > 0 && s.All(char.IsDigit)),
        ["isspace"] = (s, a) => BoolValue.Of(s.Length > 0 && s.All(char.IsWhiteSpace)),
        ["format"] = (s, a) => Str(Format(s, a)),
    };

    public static bool TryBind(StringValue target, string name, out Value method)
    {
        if (Methods.TryGetValue(name, out var body))
        {
            method = new FunctionValue($"str.{name}", args => body(target.Text, args));
            return true;
        }
        method = null!;
        return false;
    }

    private static StringValue Str(string text) => ValueConversion.String(text);

    private static string? Chars(Arguments a) => a.Get(0, "chars") switch
    {
        null or NoneValue => null,
        StringValue s => s.Text,
        var v => throw new TemplateRuntimeError($"strip() chars must be a string, got {ValueOperations.Describe(v)}"),
    };

    /// <summary>Python's strip: whitespace by default, else any of the given characters.</summary>
    public static string Strip(string s, string? chars, bool left, bool right)
    {
        Func<char, bool> strip = chars is null ? char.IsWhiteSpace : chars.Contains;
        int start = 0, end = s.Length;
        if (left) while (start < end && strip(s[start])) start++;
        if (right) while (end > start && strip(s[end - 1])) end--;
        return s[start..end];
    }

    private static ListValue Split(string s, Arguments a)
    {
        var maxSplit = a.Get(1, "maxsplit") is { } m ? ValueOperations.AsLong(m) : -1;
        var separator = a.Get(0, "sep") switch
        {
            null or NoneValue => null,
            StringValue t when t.Text.Length == 0 => throw new TemplateRuntimeError("split(): empty separator"),
            StringValue t => t.Text,
            var v => throw new TemplateRuntimeError($"split() separator must be a string, got {ValueOperations.Describe(v)}"),
        };
        var parts = new List<Value>();
        if (separator is null)
        {
            // No separator: split on runs of whitespace, dropping empty strings at the ends, as Python does.
            var rest = s.TrimStart();
            while (rest.Length > 0)
            {
                if (maxSplit >= 0 && parts.Count == maxSplit) { parts.Add(Str(rest.TrimEnd())); break; }
                var end = 0;
                while (end < rest.Length && !char.IsWhiteSpace(rest[end])) end++;
                parts.Add(Str(rest[..end]));
                rest = rest[end..].TrimStart();
            }
            return new ListValue(parts);
        }
        var start = 0;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            var at = s.IndexOf(separator, start, StringComparison.Ordinal);
            if (at < 0) break;
            parts.Add(Str(s[start..at]));
            start = at + separator.Length;
        }
        parts.Add(Str(s[start..]));
        return new ListValue(parts);
    }

    private static IEnumerable<string> Affixes(Arguments a, string name) => a.Required(0, name) switch
    {
        StringValue s => [s.Text],
        ListValue l => l.Items.Select(i => i is StringValue s ? s.Text : throw new TemplateRuntimeError($"{name} tuple must hold strings")),
        var v => throw new TemplateRuntimeError($"{name} must be a string or a tuple of strings, got {ValueOperations.Describe(v)}"),
    };

    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0) return old.Length == 0 ? ReplaceEmpty(s, replacement, long.MaxValue) : s.Replace(old, replacement, StringComparison.Ordinal);
        if (old.Length == 0) return ReplaceEmpty(s, replacement, count);
        var sb = new StringBuilder();
        var start = 0;
        for (var done = 0L; done < count; done++)
        {
            var at = s.IndexOf(old, start, StringComparison.Ordinal);
            if (at < 0) break;
            sb.Append(s, start, at - start).Append(replacement);
            start = at + old.Length;
        }
        return sb.Append(s, start, s.Length - start).ToString();
    }

    /// <summary>Python inserts the replacement between every character when the old text is empty.</summary>
    private static string ReplaceEmpty(string s, string replacement, long count)
    {
        var sb = new StringBuilder();
        var done = 0L;
        foreach (var rune in s.EnumerateRunes())
        {
            if (done++ < count) sb.Append(replacement);
            sb.Append(rune.ToString());
        }
        if (done < count) sb.Append(replacement);
        return sb.ToString();
    }

    private static long Count(string s, string sub)
    {
        if (sub.Length == 0) return s.EnumerateRunes().Count() + 1;
        long n = 0;
        for (var at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    /// <summary>Python's str.title(): a letter after a non-letter goes upper case, the other letters lower case.</summary>
    public static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        var previousIsLetter = false;
        foreach (var c in s)
        {
            sb.Append(previousIsLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousIsLetter = char.IsLetter(c);
        }
        return sb.ToString();
    }

    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    /// <summary>str.format with <c>{}</c>, <c>{0}</c> and <c>{name}</c> fields and <c>{{</c>/<c>}}</c> escapes; no format specs.</summary>
    private static string Format(string s, Arguments a)
    {
        var sb = new StringBuilder();
        var auto = 0;
        for (var i = 0; i < s.Length; i++)
        {
            var c = s[i];
            if ((c == '{' || c == '}') && i + 1 < s.Length && s[i + 1] == c) { sb.Append(c); i++; continue; }
            if (c != '{') { sb.Append(c); continue; }
            var close = s.IndexOf('}', i);
            if (close < 0) throw new TemplateRuntimeError("str.format(): single '{' in the format string");
            var field = s[(i + 1)..close];
            if (field.Contains(':') || field.Contains('!')) throw new TemplateRuntimeError($"str.format(): format spec in '{{{field}}}' is not supported");
            Value? value = field.Length == 0 ? a.Get(auto++, "")
                : int.TryParse(field, out var position) ? a.Get(position, "")
                : a.Named.GetValueOrDefault(field);
            sb.Append((value ?? throw new TemplateRuntimeError($"str.format(): no argument for '{{{field}}}'")).ToText());
            i = close;
        }
        return sb.ToString();
    }
}
