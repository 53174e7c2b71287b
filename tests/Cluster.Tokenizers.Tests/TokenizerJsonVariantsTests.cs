using System.Text.Json.Nodes;

namespace Cluster.Tokenizers.Tests;

/// <summary>
/// tokenizer.json spellings that newer checkpoints use: merges as ["a", "b"] pairs (tokenizers 0.20+), and a Split
/// pre-tokenizer with its own regex followed by ByteLevel without regex (Llama 3, Qwen2).
/// </summary>
public sealed class TokenizerJsonVariantsTests
{
    private const string Text = "Hello world!  It's 2024:\n\tcode   here 오늘 👍🏽";

    [Fact]
    public void Merges_as_pairs_give_the_same_ids_as_merges_as_strings()
    {
        CheckpointTokenizer reference = TokenizerDirectories.Tokenizer(TokenizerDirectories.Gpt2SubsetJson);
        string directory = RewriteTokenizerJson(json =>
        {
            JsonArray merges = json["model"]!["merges"]!.AsArray();
            var pairs = new JsonArray();
            foreach (JsonNode? merge in merges)
            {
                string[] parts = merge!.GetValue<string>().Split(' ');
                pairs.Add(new JsonArray(parts[0], parts[1]));
            }

            json["model"]!["merges"] = pairs;
        });

        CheckpointTokenizer tokenizer = CheckpointTokenizer.Load(directory);

        Assert.Equal(reference.Encode(Text), tokenizer.Encode(Text));
        Assert.Equal(Text, tokenizer.Decode(tokenizer.Encode(Text)));
    }

    [Fact]
    public void Split_with_GPT2_regex_then_ByteLevel_without_regex_equals_ByteLevel_with_regex()
    {
        CheckpointTokenizer reference = TokenizerDirectories.Tokenizer(TokenizerDirectories.Gpt2SubsetJson);
        string directory = RewriteTokenizerJson(json => json["pre_tokenizer"] = SplitThenByteLevel(
            @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"));

        CheckpointTokenizer tokenizer = CheckpointTokenizer.Load(directory);

        Assert.Equal(reference.Encode(Text), tokenizer.Encode(Text));
    }

    [Fact]
    public void Split_with_the_Llama_3_regex_is_used_for_pre_tokenization()
    {
        // Llama 3 splits numbers into groups of at most three digits; GPT-2 keeps " 12345" together.
        const string llama3 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
        string directory = RewriteTokenizerJson(json => json["pre_tokenizer"] = SplitThenByteLevel(llama3));
        CheckpointTokenizer tokenizer = CheckpointTokenizer.Load(directory);
        CheckpointTokenizer gpt2 = TokenizerDirectories.Tokenizer(TokenizerDirectories.Gpt2SubsetJson);

        IReadOnlyList<int> ids = tokenizer.Encode("12345");

        Assert.Equal("12345", tokenizer.Decode(ids));
        Assert.Equal(Text, tokenizer.Decode(tokenizer.Encode(Text)));
        // Tokens never cross a pre-tokenizer word boundary, so one token must end exactly after "123".
        var tokenEnds = new List<int>();
        foreach (int id in ids)
        {
            tokenEnds.Add((tokenEnds.Count == 0 ? 0 : tokenEnds[^1]) + tokenizer.Decode([id]).Length);
        }

        Assert.True(tokenEnds.Contains(3), $"tokens of 12345 end at [{string.Join(", ", tokenEnds)}]");
        Assert.NotEqual(gpt2.Encode("x 12345"), tokenizer.Encode("x 12345"));
    }

    [Fact]
    public void Added_tokens_outside_model_vocab_are_matched_whole_and_counted_like_Qwen2_chat_tokens()
    {
        string directory = RewriteTokenizerJson(json => json["added_tokens"]!.AsArray().Add(JsonNode.Parse(
            """{ "id": 1024, "content": "<|im_start|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true }""")));

        CheckpointTokenizer tokenizer = CheckpointTokenizer.Load(directory);
        IReadOnlyList<int> ids = tokenizer.Encode("<|im_start|> the");

        Assert.Equal(1025, tokenizer.VocabularySize);
        Assert.Equal([1024, 262], ids);
        Assert.True(tokenizer.IsSpecialToken(1024));
        Assert.Equal(" the", tokenizer.Decode(ids));
        Assert.Equal("<|im_start|> the", tokenizer.Decode(ids, skipSpecialTokens: false));
        Assert.Equal("<|im_start|>", tokenizer.TokenPiece(1024));
    }

    private static JsonObject SplitThenByteLevel(string regex) => JsonNode.Parse($$"""
        { "type": "Sequence", "pretokenizers": [
            { "type": "Split", "pattern": { "Regex": {{JsonValue.Create(regex).ToJsonString()}} }, "behavior": "Isolated", "invert": false },
            { "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false } ] }
        """)!.AsObject();

    private static string RewriteTokenizerJson(Action<JsonObject> change) => TokenizerDirectories.Rewritten(TokenizerDirectories.Gpt2SubsetJson, change);
}
