using System.Globalization;
using System.Text;

namespace Cluster.ChatTemplates.Values;

/// <summary>Python's repr() of strings and floats, which templates print (<c>{{ 1.0 }}</c> is "1.0", not "1").</summary>
internal static class PythonFormat
{
    /// <summary>Single quotes unless the text holds a single quote and no double quote, as Python chooses.</summary>
    public static string StringRepr(string text)
    {
        var quote = text.Contains('\'') && !text.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder(text.Length + 2).Append(quote);
        foreach (var c in text)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append("\\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append(quote).ToString();
    }

    /// <summary>
    /// Python's float repr: the shortest digits that round-trip (what .NET's "R" also finds), written positionally
    /// with a ".0" when integral, and in exponent form ("1e+16", "1e-05") when the exponent is below -4 or at least 16.
    /// </summary>
    public static string FloatRepr(double number)
    {
        if (double.IsNaN(number)) return "nan";
        if (double.IsPositiveInfinity(number)) return "inf";
        if (double.IsNegativeInfinity(number)) return "-inf";
        if (number == 0) return double.IsNegative(number) ? "-0.0" : "0.0";

        // "E16" would not be shortest; "R" is, so take its digits and exponent apart and lay them out again.
        var r = number.ToString("R", CultureInfo.InvariantCulture);
        var negative = r.StartsWith('-');
        if (negative) r = r[1..];
        var exponentAt = r.IndexOfAny(['E', 'e']);
        var mantissa = exponentAt < 0 ? r : r[..exponentAt];
        var exponent = exponentAt < 0 ? 0 : int.Parse(r[(exponentAt + 1)..], CultureInfo.InvariantCulture);
        var point = mantissa.IndexOf('.');
        var digits = point < 0 ? mantissa : mantissa.Remove(point, 1);
        var pointPosition = (point < 0 ? mantissa.Length : point) + exponent; // digits before the decimal point
        var leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0') is { Length: > 0 } trimmed ? digits.TrimStart('0').TrimEnd('0') : "0";
        pointPosition -= leadingZeros;
        var decimalExponent = pointPosition - 1; // scientific exponent of the first significant digit

        string body;
        if (decimalExponent < -4 || decimalExponent >= 16)
        {
            var fraction = digits.Length > 1 ? "." + digits[1..] : "";
            body = $"{digits[0]}{fraction}e{(decimalExponent < 0 ? '-' : '+')}{Math.Abs(decimalExponent):00}";
        }
        else if (pointPosition <= 0)
            body = "0." + new string('0', -pointPosition) + digits;
        else if (pointPosition >= digits.Length)
            body = digits + new string('0', pointPosition - digits.Length) + ".0";
        else
            body = digits[..pointPosition] + "." + digits[pointPosition..];
        return negative ? "-" + body : body;
    }
}
