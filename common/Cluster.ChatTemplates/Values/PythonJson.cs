using System.Globalization;
using System.Text;

namespace Cluster.ChatTemplates.Values;

/// <summary>
/// <c>json.dumps</c> as transformers' <c>tojson</c> filter calls it (ensure_ascii=False, sort_keys=False by default;
/// indent, separators, sort_keys, ensure_ascii as keywords), so that tool schemas reach the prompt byte for byte as
/// Python writes them: ", " and ": " without indent, "," at line ends with it, floats in Python's repr.
/// </summary>
internal static class PythonJson
{
    public sealed record Options(string? Indent, string ItemSeparator, string KeySeparator, bool EnsureAscii, bool SortKeys);

    public static string Dumps(Value value, Options options)
    {
        var sb = new StringBuilder();
        Write(sb, value, options, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, Value value, Options options, int depth)
    {
        switch (value)
        {
            case NoneValue: sb.Append("null"); break;
            case BoolValue b: sb.Append(b.Flag ? "true" : "false"); break;
            case IntValue i: sb.Append(i.Number.ToString(CultureInfo.InvariantCulture)); break;
            case FloatValue f:
                sb.Append(double.IsNaN(f.Number) ? "NaN" : double.IsInfinity(f.Number) ? (f.Number > 0 ? "Infinity" : "-Infinity") : PythonFormat.FloatRepr(f.Number));
                break;
            case StringValue s: WriteString(sb, s.Text, options.EnsureAscii); break;
            case ListValue l:
                WriteContainer(sb, '[', ']', l.Items.Count, options, depth, (k) => Write(sb, l.Items[k], options, depth + 1));
                break;
            case DictValue d:
                var keys = d.Entries.Keys.ToList();
                if (options.SortKeys) keys.Sort(string.CompareOrdinal);
                WriteContainer(sb, '{', '}', keys.Count, options, depth, (k) =>
                {
                    WriteString(sb, keys[k], options.EnsureAscii);
                    sb.Append(options.KeySeparator);
                    Write(sb, d.Entries[keys[k]], options, depth + 1);
                });
                break;
            case UndefinedValue u:
                throw new TemplateRuntimeError($"tojson: '{u.Name}' is undefined and cannot be written as JSON");
            default:
                throw new TemplateRuntimeError($"tojson: Object of type {value.TypeName} is not JSON serializable");
        }
    }

    private static void WriteContainer(StringBuilder sb, char open, char close, int count, Options options, int depth, Action<int> writeItem)
    {
        sb.Append(open);
        if (count == 0) { sb.Append(close); return; }
        for (var k = 0; k < count; k++)
        {
            if (k > 0) sb.Append(options.ItemSeparator);
            if (options.Indent is not null) NewLine(sb, options.Indent, depth + 1);
            writeItem(k);
        }
        if (options.Indent is not null) NewLine(sb, options.Indent, depth);
        sb.Append(close);
    }

    private static void NewLine(StringBuilder sb, string indent, int depth)
    {
        sb.Append('\n');
        for (var i = 0; i < depth; i++) sb.Append(indent);
    }

    private static void WriteString(StringBuilder sb, string text, bool ensureAscii)
    {
        sb.Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    // Python escapes control characters always and, with ensure_ascii, every non-ASCII UTF-16 unit (lowercase hex).
                    if (c < 0x20 || (ensureAscii && c > 0x7e))
                        sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }
}
