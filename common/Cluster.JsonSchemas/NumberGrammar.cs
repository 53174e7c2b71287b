using System.Numerics;
using System.Text.Json;

namespace Cluster.JsonSchemas;

/// <summary>
/// The numerals of a number or an integer held to <c>minimum</c>, <c>maximum</c>, <c>exclusiveMinimum</c>,
/// <c>exclusiveMaximum</c> and <c>multipleOf</c>, exactly: a deterministic automaton that reads the numeral a character
/// at a time, comparing it with each bound as one compares two decimals by hand (integer digits counted, then digit by
/// digit) and keeping its remainder modulo the step, built whole and copied into the <see cref="ByteNfa"/>, where
/// only the states that can still end within the range are kept. A bounded numeral is written without an exponent,
/// <c>-?(0|[1-9][0-9]*)(\.[0-9]+)?</c> (integers without the fraction), a subset of what the schema allows.
/// </summary>
/// <remarks>
/// llama.cpp's json-schema-to-grammar enforces integer bounds and leaves number bounds out; OpenAI's structured
/// outputs accept all five keywords. Pydantic writes them for <c>Field(ge=0, le=1)</c>, <c>conint</c> and <c>confloat</c>.
/// </remarks>
internal sealed class NumberGrammar
{
    public static readonly string[] Keywords = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"];

    /// <summary>The largest step in units of its last digit (multipleOf 0.05 is 5 hundredths): the automaton keeps one remainder per unit.</summary>
    public const int MaxStepUnits = 1000;

    /// <summary>The most automaton states one number's keywords may need.</summary>
    public const int MaxStates = 20_000;

    private const int Less = 0, Equal = 1, Greater = 2;

    private readonly Bound[] _bounds;
    private readonly (int Units, int Scale, DecimalText Text)? _step;
    private readonly int _integerCap; // integer digits counted up to one more than the longest bound's
    private readonly int _fractionCap; // fraction digits counted up to the longest bound's or the step's

    private NumberGrammar(Bound[] bounds, (int Units, int Scale, DecimalText Text)? step)
    {
        _bounds = bounds;
        _step = step;
        _integerCap = bounds.Select(b => b.Value.Integer.Length).DefaultIfEmpty(0).Max() + 1;
        _fractionCap = Math.Max(bounds.Select(b => b.Value.Fraction.Length).DefaultIfEmpty(0).Max(), step?.Scale ?? 0);
    }

    private readonly record struct Bound(DecimalText Value, bool Lower, bool Inclusive, string Keyword)
    {
        public override string ToString() => $"{Keyword} {Value}";
    }

    private enum Phase : byte { Start, Minus, Zero, Integer, Point, Fraction }

    /// <summary>
    /// Where a numeral stands after some characters: what it has read, and for bound i, in bits 2i and 2i+1 of
    /// <see cref="Comparisons"/>, how the digits read so far compare with the bound's at the same places (the integer
    /// part's comparison settles by length when it ends; the fraction's continues from it).
    /// </summary>
    private readonly record struct Reading(Phase Phase, bool Negative, bool NonZero, int Position, int Comparisons, int Remainder);

    /// <summary>The number keywords of <paramref name="schema"/>, or null when it has none.</summary>
    public static NumberGrammar? Read(JsonElement schema, string pointer)
    {
        var bounds = new List<Bound>();
        foreach (var (keyword, lower, inclusive) in (ReadOnlySpan<(string, bool, bool)>)[
            ("minimum", true, true), ("exclusiveMinimum", true, false), ("maximum", false, true), ("exclusiveMaximum", false, false)])
        {
            if (schema.TryGetProperty(keyword, out var value))
            {
                bounds.Add(new(Number(value, keyword, pointer), lower, inclusive, keyword));
            }
        }
        (int, int, DecimalText)? step = null;
        if (schema.TryGetProperty("multipleOf", out var multiple))
        {
            var at = SchemaCompiler.Child(pointer, "multipleOf");
            var value = Number(multiple, "multipleOf", pointer);
            if (value.Negative || value.IsZero)
            {
                throw new JsonSchemaException(at, "multipleOf must be greater than 0");
            }
            var units = BigInteger.Parse(value.Integer + value.Fraction, System.Globalization.CultureInfo.InvariantCulture);
            step = units <= MaxStepUnits
                ? ((int)units, value.Fraction.Length, value)
                : throw new JsonSchemaException(at, $"multipleOf {value} is {units} units of its last digit; the limit is {MaxStepUnits}");
        }
        return bounds.Count == 0 && step is null ? null : new NumberGrammar([.. bounds], step);
    }

    private static DecimalText Number(JsonElement value, string keyword, string pointer)
    {
        var at = SchemaCompiler.Child(pointer, keyword);
        if (value.ValueKind != JsonValueKind.Number)
        {
            throw new JsonSchemaException(at, value.ValueKind is JsonValueKind.True or JsonValueKind.False
                ? $"{keyword} must be a number (draft 4's boolean exclusiveMinimum and exclusiveMaximum are not supported: give the bound itself as exclusiveMinimum or exclusiveMaximum)"
                : $"{keyword} must be a number");
        }
        return DecimalText.Parse(value.GetRawText())
            ?? throw new JsonSchemaException(at, $"{keyword} needs more than {DecimalText.MaxDigits} digits or an exponent beyond ±{DecimalText.MaxDigits}");
    }

    /// <summary>A fresh copy of the numerals in <paramref name="nfa"/>; <paramref name="integer"/> leaves out the fraction.</summary>
    /// <exception cref="JsonSchemaException">No numeral satisfies the keywords, or they need more than <see cref="MaxStates"/> states.</exception>
    public Fragment Build(ByteNfa nfa, bool integer, string pointer)
    {
        // Every reachable reading, breadth first, with its transitions.
        var start = new Reading(Phase.Start, false, false, 0, _bounds.Select((_, i) => Equal << (2 * i)).Sum(), 0);
        var index = new Dictionary<Reading, int> { [start] = 0 };
        var readings = new List<Reading> { start };
        var edges = new List<List<(byte Byte, int To)>>();
        for (var at = 0; at < readings.Count; at++)
        {
            var moves = new List<(byte, int)>();
            foreach (var c in "-.0123456789"u8)
            {
                if (Next(readings[at], c, integer) is not { } next)
                {
                    continue;
                }
                if (!index.TryGetValue(next, out var to))
                {
                    if (readings.Count == MaxStates)
                    {
                        throw new JsonSchemaException(pointer, $"the number keywords here need more than {MaxStates} automaton states (use a smaller multipleOf or bounds with fewer digits)");
                    }
                    to = index[next] = readings.Count;
                    readings.Add(next);
                }
                moves.Add((c, to));
            }
            edges.Add(moves);
        }
        // Keep what can still end within the range.
        var live = readings.Select(Accepts).ToArray();
        for (var changed = true; changed;)
        {
            changed = false;
            for (var s = 0; s < readings.Count; s++)
            {
                if (!live[s] && edges[s].Exists(edge => live[edge.To]))
                {
                    live[s] = changed = true;
                }
            }
        }
        if (!live[0])
        {
            throw new JsonSchemaException(pointer, $"no {(integer ? "integer" : "number")} satisfies {Describe()}");
        }
        var states = readings.Select((_, s) => live[s] ? nfa.AddState() : -1).ToArray();
        var end = nfa.AddState();
        for (var s = 0; s < readings.Count; s++)
        {
            if (!live[s])
            {
                continue;
            }
            foreach (var (c, to) in edges[s])
            {
                if (live[to])
                {
                    nfa.Edge(states[s], c, c, states[to]);
                }
            }
            if (Accepts(readings[s]))
            {
                nfa.Empty(states[s], end);
            }
        }
        return new(states[0], end);
    }

    private string Describe() => string.Join(" and ", _bounds.Select(b => b.ToString())
        .Concat(_step is { } step ? [$"multipleOf {step.Text}"] : []));

    private Reading? Next(Reading r, byte c, bool integer) => (r.Phase, c) switch
    {
        (Phase.Start, (byte)'-') => r with { Phase = Phase.Minus, Negative = true },
        (Phase.Start or Phase.Minus, (byte)'0') => IntegerDigit(r with { Phase = Phase.Zero }, 0),
        (Phase.Start or Phase.Minus or Phase.Integer, >= (byte)'1' and <= (byte)'9') => IntegerDigit(r with { Phase = Phase.Integer }, c - '0'),
        (Phase.Integer, (byte)'0') => IntegerDigit(r, 0),
        (Phase.Zero or Phase.Integer, (byte)'.') when !integer => SettleInteger(r) with { Phase = Phase.Point, Position = 0 },
        (Phase.Point or Phase.Fraction, >= (byte)'0' and <= (byte)'9') => FractionDigit(r with { Phase = Phase.Fraction }, c - '0'),
        _ => null,
    };

    private Reading IntegerDigit(Reading r, int digit)
    {
        var comparisons = r.Comparisons;
        for (var i = 0; i < _bounds.Length; i++)
        {
            var bound = _bounds[i].Value.Integer;
            if (Get(comparisons, i) == Equal && r.Position < bound.Length)
            {
                comparisons = Set(comparisons, i, Compare(digit, bound[r.Position] - '0'));
            }
        }
        return r with
        {
            NonZero = r.NonZero || digit != 0,
            Position = Math.Min(r.Position + 1, _integerCap),
            Comparisons = comparisons,
            Remainder = _step is { } step ? (r.Remainder * 10 + digit) % step.Units : 0,
        };
    }

    /// <summary>The integer part has ended: a longer one is greater, a shorter one less, one as long compares by its digits.</summary>
    private Reading SettleInteger(Reading r)
    {
        var comparisons = r.Comparisons;
        for (var i = 0; i < _bounds.Length; i++)
        {
            var length = _bounds[i].Value.Integer.Length;
            comparisons = Set(comparisons, i, r.Position > length ? Greater : r.Position < length ? Less : Get(comparisons, i));
        }
        return r with { Comparisons = comparisons };
    }

    private Reading? FractionDigit(Reading r, int digit)
    {
        if (_step is { } step && r.Position >= step.Scale && digit != 0)
        {
            return null; // a multiple of the step has no digits past the step's own
        }
        var comparisons = r.Comparisons;
        for (var i = 0; i < _bounds.Length; i++)
        {
            var bound = _bounds[i].Value.Fraction;
            if (Get(comparisons, i) == Equal)
            {
                comparisons = Set(comparisons, i, Compare(digit, r.Position < bound.Length ? bound[r.Position] - '0' : 0));
            }
        }
        return r with
        {
            NonZero = r.NonZero || digit != 0,
            Position = Math.Min(r.Position + 1, _fractionCap),
            Comparisons = comparisons,
            Remainder = _step is { } s && r.Position < s.Scale ? (r.Remainder * 10 + digit) % s.Units : r.Remainder,
        };
    }

    /// <summary>Whether the numeral read so far may end here: it is whole, within every bound, and a multiple of the step.</summary>
    private bool Accepts(Reading r)
    {
        if (r.Phase is not (Phase.Zero or Phase.Integer or Phase.Fraction))
        {
            return false;
        }
        var settled = r.Phase == Phase.Fraction ? r : SettleInteger(r) with { Position = 0 };
        var sign = !r.NonZero ? 0 : r.Negative ? -1 : 1;
        for (var i = 0; i < _bounds.Length; i++)
        {
            var bound = _bounds[i];
            // Equal so far with bound digits left over: those hold a nonzero digit (no trailing zeros), so less.
            var magnitude = Get(settled.Comparisons, i);
            if (magnitude == Equal && settled.Position < bound.Value.Fraction.Length)
            {
                magnitude = Less;
            }
            var boundSign = bound.Value.IsZero ? 0 : bound.Value.Negative ? -1 : 1;
            var order = sign != boundSign ? sign.CompareTo(boundSign) : sign == 0 ? 0 : sign * (magnitude - Equal);
            var within = bound.Lower ? (bound.Inclusive ? order >= 0 : order > 0) : (bound.Inclusive ? order <= 0 : order < 0);
            if (!within)
            {
                return false;
            }
        }
        if (_step is { } step)
        {
            // The digits past the last one read, up to the step's scale, are zeros.
            var remainder = r.Remainder;
            for (var place = settled.Position; place < step.Scale; place++)
            {
                remainder = remainder * 10 % step.Units;
            }
            return remainder == 0;
        }
        return true;
    }

    private static int Compare(int digit, int other) => digit < other ? Less : digit == other ? Equal : Greater;

    private static int Get(int comparisons, int i) => (comparisons >> (2 * i)) & 3;

    private static int Set(int comparisons, int i, int value) => (comparisons & ~(3 << (2 * i))) | (value << (2 * i));
}
