using System.Text;
using Cluster.Gateway.Streaming;
using Cluster.Gateway.Tests.Requests;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Tests.Streaming;

/// <summary>
/// A sequence's text streamed token by token: whole characters only, stop sequences cut exactly (never sent, even
/// when they span tokens), text held back for a stop that never completes sent in the end.
/// </summary>
public sealed class TextStreamTests
{
    private const string Korean = "오늘 날씨 어때?";
    private const string Emoji = "Nice 👍🏽 and a family: 👨‍👩‍👧‍👦!";
    private const string English = "Hello world! The quick brown fox jumps over the lazy dog.";

    public static TheoryData<string, string> IntactCases()
    {
        var data = new TheoryData<string, string>();
        foreach (string tokenizer in new[] { TestTokenizers.Gpt2Name, TestTokenizers.SentencePieceName })
        {
            foreach (string text in new[] { Korean, Emoji, English })
            {
                data.Add(tokenizer, text);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(IntactCases))]
    public void Korean_and_emoji_stream_intact_token_by_token(string tokenizerName, string text)
    {
        CheckpointTokenizer tokenizer = TestTokenizers.ByName(tokenizerName);
        IReadOnlyList<int> ids = tokenizer.Encode(text);

        // With no stop sequences, and with stop sequences that never occur but keep starting to (held back, released).
        foreach (string[] stops in new[] { Array.Empty<string>(), ["날씨 맑음", "👍🏽👍🏽", "family: 👨‍👩‍👧‍👦?", "fox jumps under"] })
        {
            Run run = Stream(tokenizer, ids, stops);

            Assert.True(run.Finished is { Stopped: false }, $"{tokenizerName}, stops [{string.Join("|", stops)}]: stopped at \"{run.Finished.StopSequence}\"; deltas {run}");
            foreach (string delta in run.Deltas)
            {
                Assert.False(HasBrokenCharacter(delta), $"{tokenizerName}: delta \"{Escape(delta)}\" holds half a character; deltas {run}");
            }

            Assert.True(run.Text == text, $"{tokenizerName}, stops [{string.Join("|", stops)}]: deltas {run} add up to \"{run.Text}\", expected \"{text}\"");
        }
    }

    [Theory]
    [InlineData(TestTokenizers.Gpt2Name, English, "quick brown fox", "Hello world! The ")]
    [InlineData(TestTokenizers.SentencePieceName, English, "quick brown fox", "Hello world! The ")]
    [InlineData(TestTokenizers.Gpt2Name, Korean, "날씨", "오늘 ")]
    [InlineData(TestTokenizers.SentencePieceName, Korean, "날씨", "오늘 ")]
    [InlineData(TestTokenizers.Gpt2Name, Emoji, "🏽 and", "Nice 👍")]
    [InlineData(TestTokenizers.Gpt2Name, English, "lo w", "Hel")] // starts and ends inside tokens
    public void Stop_sequence_spanning_several_tokens_is_cut_exactly_and_not_sent(string tokenizerName, string text, string stop, string expected)
    {
        CheckpointTokenizer tokenizer = TestTokenizers.ByName(tokenizerName);
        IReadOnlyList<int> ids = tokenizer.Encode(text);
        Assert.True(tokenizer.Encode(stop, addBos: false).Count >= 2, $"{tokenizerName}: \"{stop}\" is one token; the test needs a stop made of several");

        Run run = Stream(tokenizer, ids, [stop, "never occurs"]);

        Assert.True(run.Text == expected && run.Stopped == stop, $"{tokenizerName}: sent \"{run.Text}\" (deltas {run}), stopped at \"{run.Stopped}\"; expected \"{expected}\" then stop \"{stop}\"");
        Assert.True(run.TokensTaken < ids.Count, $"{tokenizerName}: the stream took all {ids.Count} tokens; it should stop as soon as \"{stop}\" completes");
    }

    [Fact]
    public void Stream_takes_no_tokens_after_a_stop()
    {
        CheckpointTokenizer tokenizer = TestTokenizers.Gpt2;
        TextStream stream = TextStream.Create(tokenizer, ["world"]);
        IReadOnlyList<int> ids = tokenizer.Encode("Hello world again");
        TextDelta last = default;
        foreach (int id in ids)
        {
            last = stream.Push(id);
            if (last.Stopped)
            {
                break;
            }
        }

        Assert.True(stream.Stopped && stream.StopSequence == "world" && last.StopSequence == "world", $"stopped {stream.Stopped} at \"{stream.StopSequence}\"");
        Assert.Throws<InvalidOperationException>(() => stream.Push(ids[^1]));
        Assert.Throws<InvalidOperationException>(() => stream.Finish());
    }

    [Theory]
    [InlineData(TestTokenizers.Gpt2Name)]
    [InlineData(TestTokenizers.SentencePieceName)]
    public void Held_back_partial_match_that_does_not_complete_is_sent(string tokenizerName)
    {
        CheckpointTokenizer tokenizer = TestTokenizers.ByName(tokenizerName);
        IReadOnlyList<int> ids = tokenizer.Encode(English);
        var stream = TextStream.Create(tokenizer, ["lazy cat", "dog. The end"]);

        var sent = new StringBuilder();
        var heldTexts = new List<string>();
        foreach (int id in ids)
        {
            TextDelta delta = stream.Push(id);
            Assert.False(delta.Stopped, $"{tokenizerName}: stopped at \"{delta.StopSequence}\" after \"{sent}{delta.Text}\"");
            sent.Append(delta.Text);
            heldTexts.Add(English[sent.Length..(sent.Length + stream.HeldLength)]);
        }

        string beforeFinish = sent.ToString();
        TextDelta finish = stream.Finish();

        // "lazy" waited for " cat", which never came: it went out once " dog" showed it was not a stop. "dog." at the
        // end may still begin "dog. The end", so it is held until Finish.
        Assert.True(heldTexts.Any(h => h.StartsWith("lazy", StringComparison.Ordinal)), $"{tokenizerName}: expected \"lazy\" to be held back at some point; held after each token: [{string.Join(", ", heldTexts.Select(h => "\"" + h + "\""))}]");
        Assert.True(beforeFinish == "Hello world! The quick brown fox jumps over the lazy ", $"{tokenizerName}: before Finish sent \"{beforeFinish}\"");
        Assert.True(finish is { Text: "dog.", Stopped: false }, $"{tokenizerName}: Finish gave {finish}");
    }

    [Fact]
    public void Stop_at_the_very_first_token_sends_nothing()
    {
        CheckpointTokenizer tokenizer = TestTokenizers.Gpt2;
        IReadOnlyList<int> ids = tokenizer.Encode(" the weather"); // " the" is one GPT-2 token
        string firstPiece = tokenizer.Decode([ids[0]]);
        Assert.True(firstPiece.Length > 1, $"the first token is \"{firstPiece}\"; the test needs a token of several characters");
        TextStream whole = TextStream.Create(tokenizer, [firstPiece]);
        TextStream inside = TextStream.Create(tokenizer, [firstPiece[1..]]);

        TextDelta wholeFirst = whole.Push(ids[0]);
        TextDelta insideFirst = inside.Push(ids[0]);

        Assert.True(wholeFirst.Text == "" && wholeFirst.StopSequence == firstPiece, $"stop \"{firstPiece}\": first push gave {wholeFirst}");
        Assert.True(insideFirst.Text == firstPiece[..1] && insideFirst.StopSequence == firstPiece[1..], $"stop \"{firstPiece[1..]}\": first push gave {insideFirst}");
    }

    [Fact]
    public void Stop_completed_by_the_flushed_text_still_cuts_it()
    {
        CheckpointTokenizer tokenizer = TestTokenizers.SentencePiece;
        int[] firstTwoBytesOfNal = [3 + 0xEB, 3 + 0x82]; // <0xEB> <0x82>: half a character, flushed as U+FFFD
        TextStream stream = TextStream.Create(tokenizer, ["\uFFFD"]);

        string pushed = string.Concat(firstTwoBytesOfNal.Select(id => stream.Push(id).Text));
        TextDelta finish = stream.Finish();

        Assert.True(pushed == "" && finish is { Text: "", StopSequence: "\uFFFD" }, $"pushed \"{pushed}\", Finish gave {finish}");
    }

    [Fact]
    public void Thousands_of_stop_sequences_still_work()
    {
        CheckpointTokenizer tokenizer = TestTokenizers.Gpt2;
        IReadOnlyList<int> ids = tokenizer.Encode(English);
        var random = new Random(12345);
        var stops = new List<string>();
        for (int i = 0; i < 3000; i++)
        {
            // Random strings over letters of the text (they start partial matches all the time) that never occur in it,
            // and long near-misses that share a prefix with the text.
            string candidate = new(Enumerable.Range(0, random.Next(2, 40)).Select(_ => "helo wrdqukbx"[random.Next(13)]).ToArray());
            if (!English.Contains(candidate, StringComparison.Ordinal))
            {
                stops.Add(candidate);
            }

            stops.Add($"The quick brown fox jumps over the lazy cat {i}");
        }

        Run unmatched = Stream(tokenizer, ids, stops);
        Run matched = Stream(tokenizer, ids, [.. stops, "over the"]);

        Assert.True(stops.Count > 5000, $"only {stops.Count} stop sequences");
        Assert.True(unmatched.Text == English && unmatched.Stopped is null, $"with {stops.Count} stops that never occur: sent \"{unmatched.Text}\", stopped at \"{unmatched.Stopped}\"");
        Assert.True(matched.Text == "Hello world! The quick brown fox jumps " && matched.Stopped == "over the", $"with \"over the\" added: sent \"{matched.Text}\", stopped at \"{matched.Stopped}\"");
    }

    private sealed record Run(List<string> Deltas, TextDelta Finished, int TokensTaken)
    {
        public string Text => string.Concat(Deltas);

        public string? Stopped => Finished.StopSequence;

        public override string ToString() => "[" + string.Join(", ", Deltas.Select(d => "\"" + Escape(d) + "\"")) + "]";
    }

    /// <summary>Pushes ids until the stream stops, then Finish if it did not; every delta in order.</summary>
    private static Run Stream(CheckpointTokenizer tokenizer, IReadOnlyList<int> ids, IReadOnlyList<string> stops)
    {
        TextStream stream = TextStream.Create(tokenizer, stops);
        var deltas = new List<string>();
        for (int i = 0; i < ids.Count; i++)
        {
            TextDelta delta = stream.Push(ids[i]);
            deltas.Add(delta.Text);
            if (delta.Stopped)
            {
                return new Run(deltas, delta, i + 1);
            }
        }

        TextDelta finish = stream.Finish();
        deltas.Add(finish.Text);
        return new Run(deltas, finish, ids.Count);
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

    private static string Escape(string s)
    {
        var builder = new StringBuilder();
        foreach (char c in s)
        {
            builder.Append(char.IsSurrogate(c) || c == '\uFFFD' || char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString());
        }

        return builder.ToString();
    }
}
