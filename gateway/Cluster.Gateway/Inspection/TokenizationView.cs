using System.Globalization;
using System.Text;
using Cluster.Contracts.Api;
using Cluster.Gateway.Requests;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Inspection;

/// <summary>
/// Inspect's tokenization: the model's tokens with the span of the text each covers, beside the same text split into
/// words and into characters. Positions are in UTF-8 bytes and in user-perceived characters (grapheme clusters), so
/// a byte-level token that holds half of a Hangul syllable or of an emoji shows as sharing that character.
/// </summary>
public static class TokenizationView
{
    public const int MaxTokens = 4096;

    /// <param name="freshSequence">False when the text continues a session's history: no BOS, and it may be empty.</param>
    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT: empty text (of a fresh sequence), or more than the limits allow.</exception>
    public static Tokenization Build(string text, CheckpointTokenizer tokenizer, ModelLimits limits, bool? addSpecialTokens, bool freshSequence = true)
    {
        if (text.Length == 0 && freshSequence)
        {
            throw InvalidArgument.Error("text is empty");
        }
        PromptTokens.CheckTextLength(text, limits, "text");
        var ids = PromptTokens.Encode(tokenizer, text, PromptTokens.AddsBos(tokenizer, addSpecialTokens, freshSequence));
        if (ids.Count > MaxTokens)
        {
            throw InvalidArgument.Error($"text has {ids.Count} tokens; Inspect takes at most {MaxTokens}");
        }

        var characters = Characters(text);
        var input = Encoding.UTF8.GetBytes(text);
        var view = new Tokenization { Utf8Bytes = (uint)input.Length };
        view.Characters.AddRange(characters.Select((c, i) => new TextSpan { Text = c.Text, CharStart = (uint)i, CharEnd = (uint)i + 1 }));
        view.Words.AddRange(Words(characters));

        var tokenBytes = tokenizer.TokenBytes(ids);
        var offset = 0;
        for (var i = 0; i < ids.Count; i++)
        {
            var bytes = tokenBytes[i];
            // A token covers the input's next bytes when it spells them; one that does not (an added BOS) covers nothing.
            var covers = bytes.Length > 0 && input.AsSpan(offset).StartsWith(bytes);
            var end = covers ? offset + bytes.Length : offset;
            view.Tokens.Add(new InspectedToken
            {
                Id = ids[i],
                Piece = tokenizer.TokenPiece(ids[i]),
                Special = tokenizer.IsSpecialToken(ids[i]),
                Text = Encoding.UTF8.GetString(bytes),
                ByteStart = (uint)offset,
                ByteEnd = (uint)end,
                CharStart = (uint)CharacterAt(characters, offset, input.Length),
                CharEnd = (uint)(end > offset ? CharacterAt(characters, end - 1, input.Length) + 1 : CharacterAt(characters, offset, input.Length)),
            });
            offset = end;
        }
        return view;
    }

    /// <summary>A grapheme cluster and the UTF-8 byte offset it starts at.</summary>
    private readonly record struct Character(string Text, int ByteStart);

    private static List<Character> Characters(string text)
    {
        var result = new List<Character>();
        var bytes = 0;
        var elements = StringInfo.GetTextElementEnumerator(text);
        while (elements.MoveNext())
        {
            var element = elements.GetTextElement();
            result.Add(new Character(element, bytes));
            bytes += Encoding.UTF8.GetByteCount(element);
        }
        return result;
    }

    /// <summary>The index of the character holding byte <paramref name="offset"/> (the count of characters at the end).</summary>
    private static int CharacterAt(List<Character> characters, int offset, int totalBytes)
    {
        if (offset >= totalBytes)
        {
            return characters.Count;
        }
        var low = 0;
        var high = characters.Count - 1;
        while (low < high)
        {
            var mid = (low + high + 1) / 2;
            if (characters[mid].ByteStart <= offset)
            {
                low = mid;
            }
            else
            {
                high = mid - 1;
            }
        }
        return low;
    }

    private static IEnumerable<TextSpan> Words(List<Character> characters)
    {
        var start = -1;
        for (var i = 0; i <= characters.Count; i++)
        {
            var kind = i < characters.Count ? KindOf(characters[i].Text) : CharacterKind.Space;
            if (kind == CharacterKind.Word)
            {
                start = start < 0 ? i : start;
                continue;
            }
            if (start >= 0)
            {
                yield return Span(characters, start, i);
                start = -1;
            }
            if (kind == CharacterKind.Symbol)
            {
                yield return Span(characters, i, i + 1);
            }
        }
    }

    private static TextSpan Span(List<Character> characters, int start, int end) => new()
    {
        Text = string.Concat(characters.Skip(start).Take(end - start).Select(c => c.Text)),
        CharStart = (uint)start,
        CharEnd = (uint)end,
    };

    private enum CharacterKind
    {
        Word,
        Space,
        Symbol,
    }

    private static CharacterKind KindOf(string character)
    {
        var first = Rune.GetRuneAt(character, 0);
        if (Rune.IsWhiteSpace(first))
        {
            return CharacterKind.Space;
        }
        return Rune.IsLetterOrDigit(first) || first.Value == '_' || Rune.GetUnicodeCategory(first) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
            ? CharacterKind.Word
            : CharacterKind.Symbol;
    }
}
