namespace Cluster.JsonSchemas;

/// <summary>UTF-8 encodings of code point ranges as products of byte ranges, so an automaton can read them byte by byte.</summary>
internal static class Utf8
{
    /// <summary>
    /// Byte-range sequences whose concatenations are exactly the UTF-8 encodings of the scalar values in
    /// [<paramref name="low"/>, <paramref name="high"/>] (surrogates excluded by the caller): the range is split where
    /// the encoding's length changes and where a continuation byte would not span its whole range, as
    /// utf8-ranges (Rust's regex) does.
    /// </summary>
    public static IEnumerable<(int Low, int High)[]> Sequences(int low, int high)
    {
        var pending = new Stack<(int, int)>();
        pending.Push((low, high));
        while (pending.Count > 0)
        {
            var (from, to) = pending.Pop();
            if (from > to)
            {
                continue;
            }
            var split = false;
            foreach (var max in (int[])[0x7F, 0x7FF, 0xFFFF])
            {
                if (from <= max && to > max)
                {
                    pending.Push((max + 1, to));
                    pending.Push((from, max));
                    split = true;
                    break;
                }
            }
            if (split)
            {
                continue;
            }
            if (to <= 0x7F)
            {
                yield return [(from, to)];
                continue;
            }
            for (var i = 1; i < 4 && !split; i++)
            {
                var mask = (1 << (6 * i)) - 1;
                if ((from & ~mask) != (to & ~mask))
                {
                    if ((from & mask) != 0)
                    {
                        pending.Push(((from | mask) + 1, to));
                        pending.Push((from, from | mask));
                        split = true;
                    }
                    else if ((to & mask) != mask)
                    {
                        pending.Push((to & ~mask, to));
                        pending.Push((from, (to & ~mask) - 1));
                        split = true;
                    }
                }
            }
            if (split)
            {
                continue;
            }
            var a = Encode(from);
            var b = Encode(to);
            yield return [.. a.Select((x, k) => ((int)x, (int)b[k]))];
        }
    }

    private static byte[] Encode(int codePoint) => System.Text.Encoding.UTF8.GetBytes(char.ConvertFromUtf32(codePoint));
}
