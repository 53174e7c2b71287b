namespace Cluster.JsonSchemas;

/// <summary>
/// A set of Unicode scalar values (code points without the surrogates) as sorted, disjoint, non-adjacent ranges: what a
/// regular expression's character class, '.', or escape like \d stands for.
/// </summary>
internal sealed class CodePointSet
{
    public const int MaxCodePoint = 0x10FFFF;

    private readonly List<(int Low, int High)> _ranges;

    private CodePointSet(List<(int, int)> ranges) => _ranges = ranges;

    public IReadOnlyList<(int Low, int High)> Ranges => _ranges;

    public static CodePointSet Of(params (int Low, int High)[] ranges) => Normalized(ranges);

    public static CodePointSet Single(int codePoint) => Of((codePoint, codePoint));

    public static readonly CodePointSet Digits = Of(('0', '9'));

    public static readonly CodePointSet Word = Of(('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z'));

    /// <summary>ECMAScript's \s: whitespace and line terminators.</summary>
    public static readonly CodePointSet Space = Of((9, 13), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
        (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF));

    /// <summary>ECMAScript's '.': everything but the line terminators.</summary>
    public static readonly CodePointSet AnyButNewline = Of((0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)).Complement();

    public CodePointSet Union(CodePointSet other) => Normalized([.. _ranges, .. other._ranges]);

    /// <summary>Every scalar value not in this set (surrogates never are).</summary>
    public CodePointSet Complement()
    {
        var result = new List<(int, int)>();
        var next = 0;
        foreach (var (low, high) in _ranges)
        {
            if (low > next)
            {
                result.Add((next, low - 1));
            }
            next = high + 1;
        }
        if (next <= MaxCodePoint)
        {
            result.Add((next, MaxCodePoint));
        }
        return Normalized(result);
    }

    public CodePointSet Without(CodePointSet other) => Normalized([.. Complement()._ranges, .. other._ranges]).Complement();

    public bool IsEmpty => _ranges.Count == 0;

    public bool Contains(int codePoint) => _ranges.Any(r => r.Low <= codePoint && codePoint <= r.High);

    private static CodePointSet Normalized(IEnumerable<(int Low, int High)> ranges)
    {
        var sorted = ranges.Where(r => r.Low <= r.High).OrderBy(r => r.Low).ToList();
        var merged = new List<(int, int)>();
        foreach (var (low, high) in sorted)
        {
            if (merged.Count > 0 && low <= merged[^1].Item2 + 1)
            {
                merged[^1] = (merged[^1].Item1, Math.Max(merged[^1].Item2, high));
            }
            else
            {
                merged.Add((low, high));
            }
        }
        // Surrogates are no scalar values: UTF-8 cannot encode them.
        var result = new List<(int, int)>();
        foreach (var (low, high) in merged)
        {
            if (high < 0xD800 || low > 0xDFFF)
            {
                result.Add((low, high));
                continue;
            }
            if (low < 0xD800)
            {
                result.Add((low, 0xD7FF));
            }
            if (high > 0xDFFF)
            {
                result.Add((0xE000, high));
            }
        }
        return new CodePointSet(result);
    }
}
