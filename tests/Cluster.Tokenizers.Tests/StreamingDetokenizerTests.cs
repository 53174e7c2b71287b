using System.Text;

namespace Cluster.Tokenizers.Tests;

/// <summary>
/// Streaming decode, one sampled id at a time: no delta may carry half a character (U+FFFD or a lone surrogate),
/// and the deltas must add up to the whole-sequence decode.
/// </summary>
public sealed class StreamingDetokenizerTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string tokenizer in TokenizerDirectories.All)
        {
            foreach (string text in SampleTexts.All)
            {
                data.Add(tokenizer, text);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Deltas_are_whole_characters_and_add_up_to_Decode(string tokenizerName, string text)
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(tokenizerName);
        IReadOnlyList<int> ids = tokenizer.Encode(text);

        List<string> deltas = Stream(tokenizer, ids);

        foreach (string delta in deltas)
        {
            Assert.False(HasBrokenCharacter(delta), $"{tokenizerName}: delta \"{Escape(delta)}\" holds U+FFFD or a lone surrogate; all deltas: {Show(deltas)}");
        }

        string expected = tokenizer.Decode(ids);
        Assert.True(string.Concat(deltas) == expected, $"{tokenizerName}: deltas {Show(deltas)} concatenate to \"{string.Concat(deltas)}\", Decode gives \"{expected}\".");
        Assert.Equal(text, expected);
    }

    [Fact]
    public void SentencePiece_byte_fallback_pieces_wait_for_the_whole_character()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.SentencePiece);
        IReadOnlyList<int> ids = tokenizer.Encode("날", addBos: false);
        string[] pieces = ids.Select(tokenizer.TokenPiece).ToArray();

        // "날" is U+B0A0 = EB 82 A0 in UTF-8; the model has no piece for it, so: "▁", then one piece per byte.
        Assert.True(pieces.SequenceEqual(["▁", "<0xEB>", "<0x82>", "<0xA0>"]), $"pieces: {string.Join(" ", pieces)}");

        StreamingDetokenizer stream = tokenizer.CreateStreamingDetokenizer();
        string[] deltas = ids.Select(stream.Push).ToArray();
        Assert.True(deltas.SequenceEqual(["", "", "", " 날"]) || deltas.SequenceEqual(["", "", "", "날"]), $"deltas: {Show(deltas)}");
        Assert.Equal("날", string.Concat(deltas) + stream.Flush());
    }

    [Fact]
    public void SentencePiece_keeps_the_space_before_each_later_word()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.SentencePiece);
        IReadOnlyList<int> ids = tokenizer.Encode("the weather today");

        List<string> deltas = Stream(tokenizer, ids);

        // BOS yields nothing, the first word loses the dummy-prefix space, later words keep theirs; Flush has nothing left.
        Assert.True(deltas.SequenceEqual(["", "the", " weather", " today", ""]), $"pieces [{string.Join(" ", ids.Select(tokenizer.TokenPiece))}] streamed as {Show(deltas)}");
    }

    [Fact]
    public void SentencePiece_keeps_the_space_after_a_character_made_of_bytes()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.SentencePiece);
        const string text = "😀 the end";

        IReadOnlyList<int> ids = tokenizer.Encode(text);

        Assert.Equal(text, tokenizer.Decode(ids));
        Assert.Equal(text, string.Concat(Stream(tokenizer, ids)));
    }

    [Fact]
    public void Byte_level_emoji_split_across_tokens_is_held_until_complete()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.Gpt2SubsetJson);
        IReadOnlyList<int> ids = tokenizer.Encode("👍🏽");

        List<string> deltas = Stream(tokenizer, ids);

        Assert.True(ids.Count > 2, $"expected the emoji to need several byte tokens in a 1024-token vocabulary, got [{string.Join(", ", ids)}]");
        Assert.True(deltas.Where(d => d.Length > 0).SequenceEqual(["👍", "🏽"]), $"deltas: {Show(deltas)}");
    }

    [Fact]
    public void Flush_turns_an_unfinished_character_into_one_replacement_character()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.SentencePiece);
        int[] firstTwoBytesOfNal = [3 + 0xEB, 3 + 0x82]; // <0xEB> <0x82>: byte pieces start at id 3
        StreamingDetokenizer stream = tokenizer.CreateStreamingDetokenizer();

        string pushed = string.Concat(firstTwoBytesOfNal.Select(stream.Push));
        string flushed = stream.Flush();

        Assert.Equal("", pushed);
        Assert.Equal("\uFFFD", flushed);
        Assert.Equal(tokenizer.Decode(firstTwoBytesOfNal), pushed + flushed);
    }

    [Fact]
    public void Special_tokens_are_skipped_or_written_as_asked()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.Gpt2SubsetJson);
        int eos = tokenizer.EosTokenIds[0];
        int[] ids = [.. tokenizer.Encode("Hi"), eos];

        string skipped = string.Concat(ids.Select(tokenizer.CreateStreamingDetokenizer().Push));
        string written = string.Concat(ids.Select(tokenizer.CreateStreamingDetokenizer(skipSpecialTokens: false).Push));

        Assert.Equal("Hi", skipped);
        Assert.Equal("Hi<|endoftext|>", written);
        Assert.Equal(written, tokenizer.Decode(ids, skipSpecialTokens: false));
    }

    private static List<string> Stream(CheckpointTokenizer tokenizer, IEnumerable<int> ids)
    {
        StreamingDetokenizer stream = tokenizer.CreateStreamingDetokenizer();
        List<string> deltas = ids.Select(stream.Push).ToList();
        deltas.Add(stream.Flush());
        return deltas;
    }

    private static bool HasBrokenCharacter(string s)
    {
        if (s.Contains('\uFFFD'))
        {
            return true;
        }

        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                return true;
            }
        }

        return false;
    }

    private static string Show(IEnumerable<string> deltas) => "[" + string.Join(", ", deltas.Select(d => "\"" + Escape(d) + "\"")) + "]";

    private static string Escape(string s)
    {
        var builder = new StringBuilder();
        foreach (char c in s)
        {
            builder.Append(char.IsSurrogate(c) || c == '\uFFFD' || char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString());
        }

        return builder.ToString();
    }

    [Fact]
    public void Ids_beyond_the_tokenizer_vocabulary_stream_as_empty_text()
    {
        // Models pad their embedding matrix past the tokenizer's vocabulary; a sampled padding id must not end the stream.
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.SentencePiece);
        StreamingDetokenizer stream = tokenizer.CreateStreamingDetokenizer();
        int beyond = tokenizer.VocabularySize + 5;
        Assert.False(tokenizer.Knows(beyond));
        IReadOnlyList<int> the = tokenizer.Encode("the", addBos: false);
        string text = string.Concat(the.Select(stream.Push)) + stream.Push(beyond) + stream.Flush();
        Assert.Equal("the", text);
    }
}
