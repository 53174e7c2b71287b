namespace Cluster.Tokenizers;

/// <summary>
/// One Hugging Face pre-tokenizer (ByteLevel, Split, Digits): it cuts each piece the previous steps produced into
/// smaller pieces. BPE merges never cross a piece boundary, so these boundaries decide which ids are possible.
/// Pieces are strings rather than offsets because ByteLevel's add_prefix_space inserts text.
/// </summary>
internal abstract class PreTokenizerStep
{
    /// <summary>Appends the non-empty pieces <paramref name="piece"/> splits into, in order.</summary>
    public abstract void Split(string piece, List<string> destination);

    /// <summary>
    /// Hugging Face's NormalizedString.split: <paramref name="matches"/> are the ranges the pattern matched, in order;
    /// the text between them becomes pieces too, and <paramref name="behavior"/> says what happens to each match.
    /// </summary>
    protected static void SplitAround(string piece, IEnumerable<(int Start, int Length)> matches, SplitBehavior behavior, bool invert, List<string> destination)
    {
        // Every character of the piece, in order, as (range, whether the pattern matched it).
        var ranges = new List<(int Start, int End, bool IsMatch)>();
        int previous = 0;
        foreach ((int start, int length) in matches)
        {
            if (start > previous)
            {
                ranges.Add((previous, start, invert));
            }

            ranges.Add((start, start + length, !invert));
            previous = start + length;
        }

        if (previous < piece.Length)
        {
            ranges.Add((previous, piece.Length, invert));
        }

        foreach ((int start, int end) in Apply(ranges, behavior))
        {
            if (end > start)
            {
                destination.Add(piece[start..end]);
            }
        }
    }

    private static List<(int Start, int End)> Apply(List<(int Start, int End, bool IsMatch)> ranges, SplitBehavior behavior)
    {
        var pieces = new List<(int Start, int End)>(ranges.Count);
        bool previousMatched = false;
        switch (behavior)
        {
            case SplitBehavior.Isolated:
                pieces.AddRange(ranges.Select(r => (r.Start, r.End)));
                break;
            case SplitBehavior.Removed:
                pieces.AddRange(ranges.Where(r => !r.IsMatch).Select(r => (r.Start, r.End)));
                break;
            case SplitBehavior.Contiguous:
                // Runs of matches become one piece, and so do runs of non-matches.
                foreach ((int start, int end, bool isMatch) in ranges)
                {
                    if (isMatch == previousMatched && pieces.Count > 0)
                    {
                        pieces[^1] = (pieces[^1].Start, end);
                    }
                    else
                    {
                        pieces.Add((start, end));
                    }

                    previousMatched = isMatch;
                }

                break;
            case SplitBehavior.MergedWithPrevious:
                foreach ((int start, int end, bool isMatch) in ranges)
                {
                    if (isMatch && !previousMatched && pieces.Count > 0)
                    {
                        pieces[^1] = (pieces[^1].Start, end);
                    }
                    else
                    {
                        pieces.Add((start, end));
                    }

                    previousMatched = isMatch;
                }

                break;
            case SplitBehavior.MergedWithNext:
                // The mirror image of MergedWithPrevious: walk backwards, glue a match onto the piece after it.
                for (int i = ranges.Count - 1; i >= 0; i--)
                {
                    (int start, int end, bool isMatch) = ranges[i];
                    if (isMatch && !previousMatched && pieces.Count > 0)
                    {
                        pieces[^1] = (start, pieces[^1].End);
                    }
                    else
                    {
                        pieces.Add((start, end));
                    }

                    previousMatched = isMatch;
                }

                pieces.Reverse();
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(behavior), behavior, "Unknown split behavior.");
        }

        return pieces;
    }
}
