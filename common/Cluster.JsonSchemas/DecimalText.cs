using System.Globalization;

namespace Cluster.JsonSchemas;

/// <summary>
/// A number from a schema, exactly as its JSON text writes it (no binary rounding): the sign, the integer digits
/// without leading zeros ("0" when there are none) and the fraction digits without trailing zeros. Minus zero is zero.
/// </summary>
internal readonly record struct DecimalText(bool Negative, string Integer, string Fraction)
{
    /// <summary>The most significant digits (integer and fraction together, after the exponent is applied) a bound may have.</summary>
    public const int MaxDigits = 64;

    public bool IsZero => Integer == "0" && Fraction.Length == 0;

    public override string ToString() => $"{(Negative ? "-" : "")}{Integer}{(Fraction.Length > 0 ? "." + Fraction : "")}";

    /// <summary>The value of a JSON number's text (RFC 8259 syntax), or null when it needs more than <see cref="MaxDigits"/> digits.</summary>
    public static DecimalText? Parse(string json)
    {
        var negative = json.StartsWith('-');
        var body = negative ? json[1..] : json;
        var e = body.IndexOfAny(['e', 'E']);
        var exponent = 0;
        if (e >= 0)
        {
            if (!int.TryParse(body[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent) || Math.Abs(exponent) > MaxDigits)
            {
                return null;
            }
            body = body[..e];
        }
        var dot = body.IndexOf('.');
        var digits = dot >= 0 ? body[..dot] + body[(dot + 1)..] : body;
        // How many of the digits stand before the decimal point once the exponent has moved it.
        var point = (dot >= 0 ? dot : body.Length) + exponent;
        if (point < 0)
        {
            digits = new string('0', -point) + digits;
            point = 0;
        }
        if (point > digits.Length)
        {
            digits += new string('0', point - digits.Length);
        }
        var integer = digits[..point].TrimStart('0');
        var fraction = digits[point..].TrimEnd('0');
        if (integer.Length + fraction.Length > MaxDigits)
        {
            return null;
        }
        var zero = integer.Length == 0 && fraction.Length == 0;
        return new(negative && !zero, integer.Length == 0 ? "0" : integer, fraction);
    }
}
