using System.Text.Json.Nodes;

namespace Cluster.Tokenizers.Tests;

/// <summary>
/// The words each pre_tokenizer block cuts text into, worked out by hand from Hugging Face's rules. BPE never merges
/// across these boundaries, so a wrong boundary is a wrong id even when decoding still round-trips.
/// </summary>
public sealed class PreTokenizerWordsTests
{
    private const string FileName = "tokenizer.json (test)";

    [Theory]
    // Digits (individual_digits) isolates each digit; ByteLevel's GPT-2 regex then splits "x " into "x" and " ".
    [InlineData("x 12345 y", new[] { "x", " ", "1", "2", "3", "4", "5", " y" })]
    [InlineData("in 2024, 7 cats", new[] { "in", " ", "2", "0", "2", "4", ",", " ", "7", " cats" })]
    // Other numeric characters count too (Rust's char::is_numeric: Nd, Nl, No), one scalar each, surrogate pairs included.
    [InlineData("½ ٣٤ 𝟏𝟐", new[] { "½", " ", "٣", "٤", " ", "𝟏", "𝟐" })]
    public void SmolLM2_splits_every_digit(string text, string[] expected) =>
        AssertWords(HuggingFaceBlocks.SmolLm2PreTokenizer, text, expected);

    [Fact]
    public void Digits_without_individual_digits_keeps_runs_of_digits_together() =>
        AssertWords(
            """{ "type": "Sequence", "pretokenizers": [ { "type": "Digits", "individual_digits": false }, { "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true } ] }""",
            "x 12345 y42",
            ["x", " ", "12345", " y", "42"]);

    [Theory]
    // Numbers in groups of at most three digits; a space before a number stays alone (GPT-2 would give " 1234567").
    [InlineData("x 1234567", new[] { "x", " ", "123", "456", "7" })]
    // Contractions match case-insensitively; punctuation takes the newlines after it; a letter run takes one leading non-letter.
    [InlineData("I'm HERE'S 12,345.67!\n\nok", new[] { "I", "'m", " HERE", "'S", " ", "12", ",", "345", ".", "67", "!\n\n", "ok" })]
    // A run of spaces gives its last space to the word after it: "\s+(?!\S)" backs off one space.
    [InlineData("a  b\n  c", new[] { "a", " ", " b", "\n", " ", " c" })]
    [InlineData("오늘 날씨 어때?", new[] { "오늘", " 날씨", " 어때", "?" })]
    public void Llama3_split_regex_words(string text, string[] expected) =>
        AssertWords(HuggingFaceBlocks.Llama3PreTokenizer, text, expected);

    [Theory]
    [InlineData("x 2024", new[] { "x", " ", "2", "0", "2", "4" })]
    [InlineData("It's 12 o'clock", new[] { "It", "'s", " ", "1", "2", " o", "'clock" })]
    public void Qwen2_split_regex_isolates_each_digit(string text, string[] expected) =>
        AssertWords(HuggingFaceBlocks.Qwen2PreTokenizer, text, expected);

    [Theory]
    [InlineData("Hello world", new[] { " Hello", " world" })]
    [InlineData(" Hello", new[] { " Hello" })]
    public void ByteLevel_add_prefix_space_puts_a_space_before_text_that_lacks_one(string text, string[] expected) =>
        AssertWords(HuggingFaceBlocks.ByteLevelWithPrefixSpace, text, expected);

    [Fact]
    public void ByteLevel_add_prefix_space_applies_to_every_piece_an_earlier_step_made()
    {
        // Hugging Face's ByteLevel prepends the space inside its split callback, so once per incoming piece.
        const string block = """
            { "type": "Sequence", "pretokenizers": [
                { "type": "Split", "pattern": { "String": "-" }, "behavior": "MergedWithPrevious", "invert": false },
                { "type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": false } ] }
            """;

        AssertWords(block, "a-b--c", [" a-", " b-", " -", " c"]);
    }

    [Fact]
    public void ByteLevel_without_regex_and_nothing_else_keeps_the_text_whole() =>
        AssertWords("""{ "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false }""", "two words\n and more", ["two words\n and more"]);

    [Fact]
    public void No_pre_tokenizer_keeps_the_text_whole()
    {
        PreTokenizerSequence sequence = HuggingFaceTokenizerJson.ReadPreTokenizer(null, FileName);

        Assert.Equal(["a b"], sequence.Words("a b"));
    }

    [Theory]
    // "a-b--c" split on the literal "-": the pieces are a, -, b, -, -, c, and the behavior says what becomes of each "-".
    [InlineData("Isolated", false, new[] { "a", "-", "b", "-", "-", "c" })]
    [InlineData("Removed", false, new[] { "a", "b", "c" })]
    [InlineData("MergedWithPrevious", false, new[] { "a-", "b-", "-", "c" })]
    [InlineData("MergedWithNext", false, new[] { "a", "-b", "-", "-c" })]
    [InlineData("Contiguous", false, new[] { "a", "-", "b", "--", "c" })]
    // invert: the text between the matches is what the behavior applies to.
    [InlineData("Removed", true, new[] { "-", "-", "-" })]
    [InlineData("MergedWithPrevious", true, new[] { "a", "-b", "-", "-c" })]
    public void Split_behaviors_follow_Hugging_Face(string behavior, bool invert, string[] expected) =>
        AssertWords(
            $$"""{ "type": "Split", "pattern": { "String": "-" }, "behavior": "{{behavior}}", "invert": {{(invert ? "true" : "false")}} }""",
            "a-b--c",
            expected);

    [Fact]
    public void Split_string_pattern_is_literal_not_a_regex() =>
        AssertWords("""{ "type": "Split", "pattern": { "String": "." }, "behavior": "Isolated", "invert": false }""", "a.b", ["a", ".", "b"]);

    [Fact]
    public void Nested_sequences_apply_in_order() =>
        AssertWords(
            """
            { "type": "Sequence", "pretokenizers": [
                { "type": "Sequence", "pretokenizers": [ { "type": "Digits", "individual_digits": true } ] },
                { "type": "Split", "pattern": { "Regex": "\\s+" }, "behavior": "Removed", "invert": false } ] }
            """,
            "ab 12  cd",
            ["ab", "1", "2", "cd"]);

    [Theory]
    [InlineData("""{ "type": "Whitespace" }""", "\"Whitespace\" is not supported")]
    [InlineData("""{ "type": "Sequence", "pretokenizers": [ { "type": "Metaspace", "replacement": "▁" } ] }""", "\"Metaspace\" is not supported")]
    [InlineData("""{ "type": "Split", "pattern": { "Regex": "a" }, "behavior": "Sideways", "invert": false }""", "\"Sideways\"")]
    [InlineData("""{ "type": "Split", "pattern": { "Regex": "(" }, "behavior": "Isolated", "invert": false }""", "regex is not valid")]
    [InlineData("""{ "type": "Split", "behavior": "Isolated", "invert": false }""", "\"pattern\"")]
    [InlineData("""{ "type": "Digits", "individual_digits": "yes" }""", "individual_digits")]
    public void Unsupported_or_malformed_pre_tokenizers_name_the_file_and_the_problem(string block, string expectedInMessage)
    {
        var error = Assert.Throws<InvalidDataException>(() => HuggingFaceTokenizerJson.ReadPreTokenizer(JsonNode.Parse(block), FileName));

        Assert.True(error.Message.Contains(FileName) && error.Message.Contains(expectedInMessage), $"message was: {error.Message}");
    }

    private static void AssertWords(string block, string text, string[] expected)
    {
        List<string> words = HuggingFaceTokenizerJson.ReadPreTokenizer(JsonNode.Parse(block), FileName).Words(text);

        Assert.True(
            expected.SequenceEqual(words),
            $"\"{Escape(text)}\"\n expected [{string.Join(", ", expected.Select(w => $"\"{Escape(w)}\""))}]\n got      [{string.Join(", ", words.Select(w => $"\"{Escape(w)}\""))}]");
    }

    private static string Escape(string s) => s.Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");
}
