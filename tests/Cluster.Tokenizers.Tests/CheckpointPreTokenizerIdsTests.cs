using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace Cluster.Tokenizers.Tests;

/// <summary>
/// Ids of SmolLM2-, Llama 3- and Qwen2-style tokenizer.json files, end to end through CheckpointTokenizer.Load.
/// On the full GPT-2 vocabulary a word's ids are tiktoken's GPT-2 ids for that word alone (GPT-2's regex does not cut
/// these words further), so the expected ids are the hand-made word split encoded by an independent implementation;
/// single characters are worked out directly (GPT-2 ids 0..93 are '!'..'~', 220 is the space).
/// </summary>
public sealed class CheckpointPreTokenizerIdsTests
{
    private static readonly TiktokenTokenizer Gpt2 = TiktokenTokenizer.CreateForModel("gpt2");

    private static readonly Lazy<CheckpointTokenizer> FullSmolLm2 = new(() =>
        CheckpointTokenizer.Load(TokenizerDirectories.Rewritten(TokenizerDirectories.Gpt2FullJson, HuggingFaceBlocks.MakeSmolLm2)));

    private static readonly Lazy<CheckpointTokenizer> FullLlama3 = new(() =>
        CheckpointTokenizer.Load(TokenizerDirectories.Rewritten(TokenizerDirectories.Gpt2FullJson, HuggingFaceBlocks.MakeLlama3)));

    private static readonly Lazy<CheckpointTokenizer> FullPrefixSpace = new(() =>
        CheckpointTokenizer.Load(TokenizerDirectories.Rewritten(TokenizerDirectories.Gpt2FullJson, j => j["pre_tokenizer"] = HuggingFaceBlocks.Parse(HuggingFaceBlocks.ByteLevelWithPrefixSpace))));

    [Fact]
    public void SmolLM2_encodes_every_digit_alone()
    {
        CheckpointTokenizer tokenizer = FullSmolLm2.Value;

        // Words "x", " ", "1", "2", "3", "4", "5", " y"; GPT-2's own regex would make " 12345" one word.
        int[] expected = [87, 220, 16, 17, 18, 19, 20, .. Gpt2.EncodeToIds(" y")];

        AssertIds(expected, tokenizer.Encode("x 12345 y"), "SmolLM2, \"x 12345 y\"");
        Assert.Equal(["x", "Ġ", "1", "2", "3", "4", "5", "Ġy"], tokenizer.Encode("x 12345 y").Select(tokenizer.TokenPiece));
        AssertIds([.. Gpt2.EncodeToIds("x"), .. Gpt2.EncodeToIds(" 12345"), .. Gpt2.EncodeToIds(" y")],
            TokenizerDirectories.Tokenizer(TokenizerDirectories.Gpt2FullJson).Encode("x 12345 y"), "plain GPT-2 keeps \" 12345\" together");
    }

    [Fact]
    public void SmolLM2_layout_loads_on_the_small_vocabulary_too()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.SmolLm2Json);

        AssertIds([16, 17, 18, 19, 20], tokenizer.Encode("12345"), "SmolLM2 subset, \"12345\"");
        Assert.Equal(["1", "2", "3", "4", "5"], tokenizer.Encode("12345").Select(tokenizer.TokenPiece));
    }

    [Fact]
    public void Llama3_groups_digits_by_three()
    {
        CheckpointTokenizer tokenizer = FullLlama3.Value;

        // Words "x", " ", "123", "456", "7": each of "123" and "456" is one GPT-2 token.
        int[] expected = [87, 220, .. Gpt2.EncodeToIds("123"), .. Gpt2.EncodeToIds("456"), 22];
        IReadOnlyList<int> ids = tokenizer.Encode("x 1234567");

        AssertIds(expected, ids, "Llama 3, \"x 1234567\"");
        Assert.Equal(["x", "Ġ", "123", "456", "7"], ids.Select(tokenizer.TokenPiece));
    }

    [Fact]
    public void Llama3_on_English_gives_the_GPT2_ids_of_its_words()
    {
        CheckpointTokenizer tokenizer = FullLlama3.Value;
        const string text = "I'm HERE'S 12,345.67!\n\nok";
        string[] words = ["I", "'m", " HERE", "'S", " ", "12", ",", "345", ".", "67", "!\n\n", "ok"];

        AssertIds(words.SelectMany(w => Gpt2.EncodeToIds(w)).ToArray(), tokenizer.Encode(text), $"Llama 3, \"{text}\"");
        Assert.Equal(text, tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void Ignore_merges_maps_a_whole_word_in_the_vocabulary_to_its_id()
    {
        // "xyzzy" is in the vocabulary as id 1024, but no merge builds it: only ignore_merges can produce it.
        string llama3 = TokenizerDirectories.Rewritten(TokenizerDirectories.Gpt2SubsetJson, json =>
        {
            HuggingFaceBlocks.MakeLlama3(json);
            json["model"]!["vocab"]!["xyzzy"] = 1024;
        });
        string withMerges = TokenizerDirectories.Rewritten(TokenizerDirectories.Gpt2SubsetJson, json =>
        {
            HuggingFaceBlocks.MakeLlama3(json);
            json["model"]!["vocab"]!["xyzzy"] = 1024;
            json["model"]!["ignore_merges"] = false;
        });
        CheckpointTokenizer ignoring = CheckpointTokenizer.Load(llama3);
        CheckpointTokenizer merging = CheckpointTokenizer.Load(withMerges);

        AssertIds([1024], ignoring.Encode("xyzzy"), "ignore_merges true, \"xyzzy\"");
        Assert.Equal("xyzzy", ignoring.Decode([1024]));
        IReadOnlyList<int> merged = merging.Encode("xyzzy");
        Assert.True(!merged.Contains(1024) && merging.Decode(merged) == "xyzzy", $"ignore_merges false: \"xyzzy\" gave [{string.Join(", ", merged)}]");
        // Only a whole word counts: " xyzzy" is the word "Ġxyzzy", which is not in the vocabulary, so it is merged.
        IReadOnlyList<int> spaced = ignoring.Encode("say xyzzy");
        AssertIds([.. merging.Encode("say"), .. merging.Encode(" xyzzy")], spaced, "ignore_merges true, \"say xyzzy\"");
        Assert.DoesNotContain(1024, spaced);
        Assert.Equal(1, ignoring.CountTokens("xyzzy"));
    }

    [Fact]
    public void Qwen2_encodes_every_digit_alone()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.Qwen2Json);

        AssertIds([87, 220, 17, 15, 17, 19], tokenizer.Encode("x 2024"), "Qwen2, \"x 2024\"");
    }

    [Fact]
    public void Qwen2_normalizes_to_NFC_before_tokenizing()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.Qwen2Json);
        CheckpointTokenizer withoutNormalizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.Gpt2SubsetJson);
        const string decomposed = "cafe\u0301", composed = "caf\u00e9";

        AssertIds(tokenizer.Encode(composed).ToArray(), tokenizer.Encode(decomposed), "Qwen2, decomposed café");
        Assert.Equal(composed, tokenizer.Decode(tokenizer.Encode(decomposed)));
        Assert.NotEqual(withoutNormalizer.Encode(composed), withoutNormalizer.Encode(decomposed));
    }

    [Fact]
    public void Add_prefix_space_encodes_as_if_the_text_began_with_a_space()
    {
        CheckpointTokenizer tokenizer = CheckpointTokenizer.Load(TokenizerDirectories.Rewritten(
            TokenizerDirectories.Gpt2SubsetJson, j => j["pre_tokenizer"] = HuggingFaceBlocks.Parse(HuggingFaceBlocks.ByteLevelWithPrefixSpace)));

        AssertIds([262], tokenizer.Encode("the"), "prefix space, \"the\"");
        AssertIds([262], tokenizer.Encode(" the"), "prefix space, \" the\"");
        // Added tokens are cut out first; the text after one is a piece of its own and gets its own space.
        AssertIds([1023, 262], tokenizer.Encode("<|endoftext|>the"), "prefix space, \"<|endoftext|>the\"");
        // Hugging Face's ByteLevel decoder keeps the added space.
        Assert.Equal(" the", tokenizer.Decode(tokenizer.Encode("the")));
        AssertIds(Gpt2.EncodeToIds(" Hello world").ToArray(), FullPrefixSpace.Value.Encode("Hello world"), "prefix space, full GPT-2, \"Hello world\"");
    }

    [Fact]
    public void Add_prefix_space_round_trips_with_the_space_it_added()
    {
        CheckpointTokenizer tokenizer = FullPrefixSpace.Value;

        foreach (string text in SampleTexts.All)
        {
            string decoded = tokenizer.Decode(tokenizer.Encode(text));
            string expected = text.StartsWith(' ') ? text : " " + text;
            Assert.True(decoded == expected, $"\"{text}\" decoded to \"{decoded}\"");
            Assert.Equal(tokenizer.Encode(text).Count, tokenizer.CountTokens(text));
        }
    }

    private static void AssertIds(IReadOnlyList<int> expected, IReadOnlyList<int> actual, string what) =>
        Assert.True(expected.SequenceEqual(actual), $"{what}:\n expected [{string.Join(", ", expected)}]\n got      [{string.Join(", ", actual)}]");
}
