using System.Text;
using Cluster.Contracts.Api;
using Cluster.Gateway.Inspection;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Tests.Requests;
using Grpc.Core;

namespace Cluster.Gateway.Tests.Inspection;

/// <summary>
/// Inspect's tokenization for English, Korean, code and emoji, with a byte-level BPE and a SentencePiece tokenizer:
/// the tokens' spans tile the input's bytes in order and spell it, their character spans hold those bytes, and the
/// word and character splits count what a reader would.
/// </summary>
public sealed class TokenizationViewTests
{
    private static readonly ModelLimits Limits = new(ContextLength: 512, VocabularySize: 1024, MaxNewTokensLimit: 32, MaxPromptCharacters: 1000);

    public static TheoryData<string, string> Texts => new()
    {
        { TestTokenizers.Gpt2Name, "Hello, world! It's 2026." },
        { TestTokenizers.Gpt2Name, "오늘 날씨 어때?" },
        { TestTokenizers.Gpt2Name, "def add(a_b, c): return a_b+c" },
        { TestTokenizers.Gpt2Name, "I 👍🏽 it 👨‍👩‍👧!" },
        { TestTokenizers.SentencePieceName, "Hello, world! 오늘 👍🏽" },
    };

    [Theory]
    [MemberData(nameof(Texts))]
    public void TheTokensSpansTileTheInputAndTheirCharactersHoldThem(string tokenizerName, string text)
    {
        var tokenizer = TestTokenizers.ByName(tokenizerName);
        var view = TokenizationView.Build(text, tokenizer, Limits, addSpecialTokens: null);
        var input = Encoding.UTF8.GetBytes(text);
        var characters = view.Characters.Select(c => c.Text).ToList();

        Assert.Equal((uint)input.Length, view.Utf8Bytes);
        Assert.Equal(text, string.Concat(characters));
        Assert.Equal(tokenizer.Encode(text).ToArray(), view.Tokens.Select(t => t.Id).ToArray());
        var offset = 0u;
        foreach (var token in view.Tokens)
        {
            Assert.True(token.ByteStart == offset && token.ByteEnd >= offset, $"{Describe(token)} does not start where the previous token ended ({offset})");
            var covered = input[(int)token.ByteStart..(int)token.ByteEnd];
            var charBytes = Encoding.UTF8.GetBytes(string.Concat(characters.Skip((int)token.CharStart).Take((int)(token.CharEnd - token.CharStart))));
            Assert.True(covered.Length == 0 || Contains(charBytes, covered), $"{Describe(token)}: its characters [{token.CharStart}, {token.CharEnd}) do not hold its bytes");
            offset = token.ByteEnd;
        }
        Assert.True(offset == input.Length, $"the tokens cover {offset} of {input.Length} bytes of '{text}'");
        // Covering nothing: an added special token, or SentencePiece's dummy-prefix space, which spells nothing at the start.
        Assert.All(view.Tokens.Where(t => t.ByteEnd == t.ByteStart), t => Assert.True(t.Special || t.Text.Length == 0, $"{Describe(t)} spells '{t.Text}' but covers no text"));
    }

    [Theory]
    [InlineData("Hello, world! It's 2026.", new[] { "Hello", ",", "world", "!", "It", "'", "s", "2026", "." }, 24)]
    [InlineData("오늘 날씨 어때?", new[] { "오늘", "날씨", "어때", "?" }, 9)]
    [InlineData("def add(a_b, c): return a_b+c", new[] { "def", "add", "(", "a_b", ",", "c", ")", ":", "return", "a_b", "+", "c" }, 29)]
    [InlineData("I 👍🏽 it 👨‍👩‍👧!", new[] { "I", "👍🏽", "it", "👨‍👩‍👧", "!" }, 9)]
    public void WordsAndCharactersAreWhatAReaderCounts(string text, string[] words, int characters)
    {
        var view = TokenizationView.Build(text, TestTokenizers.Gpt2, Limits, addSpecialTokens: null);
        Assert.Equal(words, view.Words.Select(w => w.Text).ToArray());
        Assert.Equal(characters, view.Characters.Count);
        Assert.All(view.Words, w => Assert.Equal(w.Text, string.Concat(view.Characters.Skip((int)w.CharStart).Take((int)(w.CharEnd - w.CharStart)).Select(c => c.Text))));
    }

    [Fact]
    public void AnAddedBosCoversNothingAndTheLimitsAreInvalidArguments()
    {
        var view = TokenizationView.Build("Hello", TestTokenizers.SentencePiece, Limits, addSpecialTokens: null);
        Assert.True(view.Tokens[0].Special && view.Tokens[0].ByteStart == 0 && view.Tokens[0].ByteEnd == 0 && view.Tokens[0].CharEnd == 0, $"BOS: {Describe(view.Tokens[0])}");

        var empty = Assert.Throws<RpcException>(() => TokenizationView.Build("", TestTokenizers.Gpt2, Limits, null));
        Assert.True(empty.StatusCode == StatusCode.InvalidArgument && empty.Status.Detail.Contains("text is empty"), empty.Status.Detail);
        var long_ = Assert.Throws<RpcException>(() => TokenizationView.Build(new string('a', 1001), TestTokenizers.Gpt2, Limits, null));
        Assert.True(long_.StatusCode == StatusCode.InvalidArgument && long_.Status.Detail.Contains("at most 1000"), long_.Status.Detail);
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    private static string Describe(InspectedToken t) => $"token {t.Id} '{t.Piece}' bytes [{t.ByteStart}, {t.ByteEnd}) characters [{t.CharStart}, {t.CharEnd})";
}
