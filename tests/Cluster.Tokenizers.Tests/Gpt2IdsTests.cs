using Microsoft.ML.Tokenizers;

namespace Cluster.Tokenizers.Tests;

/// <summary>
/// The full GPT-2 files written by the test support produce GPT-2's real ids: checked against known ids and against
/// Microsoft.ML.Tokenizers' own tiktoken GPT-2 encoder, for both file layouts.
/// </summary>
public sealed class Gpt2IdsTests
{
    private static readonly TiktokenTokenizer Tiktoken = TiktokenTokenizer.CreateForModel("gpt2");

    private static readonly string[] FullGpt2Names = [TokenizerDirectories.Gpt2FullJson, TokenizerDirectories.Gpt2FullVocabMerges];

    public static TheoryData<string> FullGpt2 => new(FullGpt2Names);

    [Theory]
    [InlineData("Hello world", new[] { 15496, 995 })]
    [InlineData("The quick brown fox", new[] { 464, 2068, 7586, 21831 })]
    [InlineData(" world", new[] { 995 })]
    [InlineData("<|endoftext|>", new[] { 50256 })]
    public void Known_strings_encode_to_GPT2_ids(string text, int[] expected)
    {
        foreach (string name in FullGpt2Names)
        {
            int[] ours = TokenizerDirectories.Tokenizer(name).Encode(text).ToArray();
            int[] tiktoken = Tiktoken.EncodeToIds(text).ToArray();
            Assert.True(expected.SequenceEqual(ours), $"{name}: \"{text}\" gave [{string.Join(", ", ours)}], GPT-2 is [{string.Join(", ", expected)}].");
            Assert.True(expected.SequenceEqual(tiktoken), $"tiktoken gpt2: \"{text}\" gave [{string.Join(", ", tiktoken)}], expected [{string.Join(", ", expected)}].");
        }
    }

    [Theory]
    [MemberData(nameof(FullGpt2))]
    public void Ids_equal_tiktoken_gpt2_on_a_mixed_corpus(string name)
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(name);
        string[] corpus =
        [
            .. SampleTexts.All,
            "It's what they'll do; we've seen I'm right, you'd agree.",
            "    indented    by    spaces\n\n\n   trailing   ",
            "x = [1, 22, 333, 4444, 55555]  # numbers\tand\ttabs",
            "URLs: https://example.com/a?b=c&d=e#frag",
            "Ünïcödé ÀÉÎÕÜ — “quotes” ‘single’ … ½ ∑ ∞",
            "😀😃😄😁 🇰🇷🇺🇸 ❤️‍🔥",
        ];

        foreach (string text in corpus)
        {
            int[] ours = tokenizer.Encode(text).ToArray();
            int[] expected = Tiktoken.EncodeToIds(text).ToArray();
            Assert.True(expected.SequenceEqual(ours), $"{name}: \"{text}\"\n ours:     [{string.Join(", ", ours)}]\n tiktoken: [{string.Join(", ", expected)}]");
        }
    }

    [Theory]
    [MemberData(nameof(FullGpt2))]
    public void Full_GPT2_has_50257_tokens_and_endoftext_last(string name)
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(name);

        Assert.Equal("byte-level BPE", tokenizer.Kind);
        Assert.Equal(50257, tokenizer.VocabularySize);
        Assert.Equal("<|endoftext|>", tokenizer.TokenPiece(50256));
        Assert.Equal("Ġworld", tokenizer.TokenPiece(995));
        Assert.Equal([50256], tokenizer.EosTokenIds);
    }
}
