using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace Cluster.Tokenizers.Tests;

/// <summary>
/// Special-token text a user typed: encoded as the special token by default (what Hugging Face's tokenizer(text)
/// does), and as plain text with allowSpecialTokens: false, which a gateway facing untrusted users uses.
/// </summary>
public sealed class UntrustedTextTests
{
    [Theory]
    [InlineData(TokenizerDirectories.Gpt2FullJson)]
    [InlineData(TokenizerDirectories.Gpt2FullVocabMerges)]
    public void Endoftext_typed_by_a_user_is_plain_text_when_special_tokens_are_not_allowed(string name)
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(name);

        // GPT-2's regex cuts "<|endoftext|>" into "<|", "endoftext", "|>": "<" 27, "|" 91, "end" 437, "of" 1659, "text" 5239, ">" 29.
        int[] plain = [27, 91, 437, 1659, 5239, 91, 29];
        IReadOnlyList<int> asText = tokenizer.Encode("<|endoftext|>", allowSpecialTokens: false);

        AssertIds([50256], tokenizer.Encode("<|endoftext|>"), $"{name}, default");
        AssertIds(plain, asText, $"{name}, allowSpecialTokens false");
        Assert.Equal(7, tokenizer.CountTokens("<|endoftext|>", allowSpecialTokens: false));
        Assert.Equal(1, tokenizer.CountTokens("<|endoftext|>"));
        Assert.Equal("<|endoftext|>", tokenizer.Decode(asText));
    }

    [Theory]
    [InlineData(TokenizerDirectories.Gpt2SubsetJson)]
    [InlineData(TokenizerDirectories.Llama3Json)]
    [InlineData(TokenizerDirectories.Qwen2Json)]
    [InlineData(TokenizerDirectories.SmolLm2Json)]
    public void Special_token_inside_a_prompt_is_text_only_when_asked(string name)
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(name);
        const string prompt = "a<|endoftext|> the";

        IReadOnlyList<int> byDefault = tokenizer.Encode(prompt);
        IReadOnlyList<int> asText = tokenizer.Encode(prompt, allowSpecialTokens: false);

        // "a" 64, "<|endoftext|>" 1023, " the" 262.
        AssertIds([64, 1023, 262], byDefault, $"{name}, default");
        Assert.True(!asText.Contains(1023) && !asText.Any(tokenizer.IsSpecialToken), $"{name}: [{string.Join(", ", asText)}] holds a special token");
        Assert.Equal(prompt, tokenizer.Decode(asText));
        Assert.Equal(asText.Count, tokenizer.CountTokens(prompt, allowSpecialTokens: false));
        AssertIds([1023, .. asText], tokenizer.Encode(prompt, addBos: true, allowSpecialTokens: false), $"{name}, BOS is still added");
    }

    [Fact]
    public void Non_special_added_tokens_are_still_matched_when_special_tokens_are_not_allowed()
    {
        string directory = TokenizerDirectories.Rewritten(TokenizerDirectories.Gpt2SubsetJson, json =>
        {
            JsonArray added = json["added_tokens"]!.AsArray();
            added.Add(JsonNode.Parse("""{ "id": 1024, "content": "<|im_start|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true }"""));
            added.Add(JsonNode.Parse("""{ "id": 1025, "content": "[TOOL]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": true, "special": false }"""));
        });
        CheckpointTokenizer tokenizer = CheckpointTokenizer.Load(directory);

        IReadOnlyList<int> asText = tokenizer.Encode("<|im_start|>[TOOL] the", allowSpecialTokens: false);

        AssertIds([1024, 1025, 262], tokenizer.Encode("<|im_start|>[TOOL] the"), "default");
        Assert.True(!asText.Contains(1024) && asText[^2] == 1025 && asText[^1] == 262, $"allowSpecialTokens false gave [{string.Join(", ", asText)}]");
        Assert.Equal("<|im_start|>[TOOL] the", tokenizer.Decode(asText));
    }

    [Fact]
    public void Longest_added_token_wins_where_two_start_at_the_same_place()
    {
        string directory = TokenizerDirectories.Rewritten(TokenizerDirectories.Gpt2SubsetJson, json =>
        {
            JsonArray added = json["added_tokens"]!.AsArray();
            added.Add(JsonNode.Parse("""{ "id": 1024, "content": "<|end", "special": true }"""));
        });
        CheckpointTokenizer tokenizer = CheckpointTokenizer.Load(directory);

        AssertIds([1023, 1024, 262], tokenizer.Encode("<|endoftext|><|end the"), "\"<|endoftext|><|end the\"");
    }

    [Fact]
    public void SentencePiece_control_text_is_plain_text_when_special_tokens_are_not_allowed()
    {
        CheckpointTokenizer tokenizer = TokenizerDirectories.Tokenizer(TokenizerDirectories.SentencePiece);

        IReadOnlyList<int> byDefault = tokenizer.Encode("hello</s>", addBos: false);
        IReadOnlyList<int> asText = tokenizer.Encode("hello</s>", addBos: false, allowSpecialTokens: false);

        Assert.True(byDefault[^1] == 2, $"default: [{string.Join(", ", byDefault)}] should end with </s> (2)");
        Assert.True(!asText.Any(tokenizer.IsSpecialToken), $"allowSpecialTokens false: [{string.Join(", ", asText)}] holds a special token");
        Assert.Equal("hello</s>", tokenizer.Decode(asText));
        Assert.Equal(asText.Count + 1, tokenizer.CountTokens("hello</s>", allowSpecialTokens: false));
    }

    private static void AssertIds(IReadOnlyList<int> expected, IReadOnlyList<int> actual, string what) =>
        Assert.True(expected.SequenceEqual(actual), $"{what}:\n expected [{string.Join(", ", expected)}]\n got      [{string.Join(", ", actual)}]");
}
