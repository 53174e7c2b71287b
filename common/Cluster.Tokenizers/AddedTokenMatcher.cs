using System.Text.RegularExpressions;

namespace Cluster.Tokenizers;

/// <summary>
/// Finds added tokens written in the input ("&lt;|im_start|&gt;", "&lt;|endoftext|&gt;") so they are encoded whole,
/// before normalization and pre-tokenization see the rest, as Hugging Face does. The longest token wins where several
/// start at the same place. Special ones can be left out, so that text a user typed cannot forge control tokens
/// (Hugging Face's split_special_tokens); non-special added tokens are still matched then, as there.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Regex? _all;
    private readonly Regex? _nonSpecial;
    private readonly Dictionary<string, int> _ids;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        AddedToken[] distinct = tokens.DistinctBy(t => t.Content, StringComparer.Ordinal).ToArray();
        _ids = distinct.ToDictionary(t => t.Content, t => t.Id, StringComparer.Ordinal);
        _all = Alternation(distinct);
        _nonSpecial = Alternation(distinct.Where(t => !t.Special));
    }

    /// <summary>The text cut into runs of ordinary text (Id null) and added tokens (Id set), in order, none empty.</summary>
    public IEnumerable<(string Text, int? Id)> Split(string text, bool includeSpecial)
    {
        Regex? regex = includeSpecial ? _all : _nonSpecial;
        if (regex is null)
        {
            if (text.Length > 0)
            {
                yield return (text, null);
            }

            yield break;
        }

        int previous = 0;
        foreach (Match match in regex.Matches(text))
        {
            if (match.Index > previous)
            {
                yield return (text[previous..match.Index], null);
            }

            yield return (match.Value, _ids[match.Value]);
            previous = match.Index + match.Length;
        }

        if (previous < text.Length)
        {
            yield return (text[previous..], null);
        }
    }

    /// <summary>Longest first, because .NET takes the first alternative that matches at a position.</summary>
    private static Regex? Alternation(IEnumerable<AddedToken> tokens)
    {
        string[] escaped = tokens.Select(t => t.Content).OrderByDescending(c => c.Length).ThenBy(c => c, StringComparer.Ordinal).Select(Regex.Escape).ToArray();
        return escaped.Length == 0 ? null : new Regex(string.Join("|", escaped), RegexOptions.CultureInvariant);
    }
}
