using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Cluster.Engine.Cli;
using Cluster.Testing;
using Cluster.Tokenizers;

namespace Cluster.Engine.Tests.Cli;

/// <summary>
/// <c>cluster-engine generate</c> through its command line, on tiny checkpoints: numbers in the invariant culture
/// whatever the locale, --json, --token-ids (validated against the vocabulary), --no-bos and --ignore-eos.
/// </summary>
public sealed partial class GenerateCommandTests
{
    [Fact]
    public void Under_a_German_locale_options_parse_and_logprobs_print_with_a_decimal_point()
    {
        using var checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe });
        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.GetCultureInfo("de-DE");
        (int exit, string output, string error) result;
        try
        {
            result = Run("generate", checkpoint.Path, "hello world", "-n", "3", "-t", "0.5", "--top-p", "0.9", "--seed", "1", "--top-logprobs", "2", "--device", "cpu");
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }

        var (exit, output, error) = result;
        Assert.True(exit == 0, $"exit {exit}; error: {error}\noutput:\n{output}");
        var logprobs = LogprobNumber().Matches(output).Select(m => m.Value).ToList();
        Assert.True(logprobs.Count == 3 * 3, $"Expected 3 tokens' logprobs and 2 alternatives each (9 numbers like -1.234); found [{string.Join(", ", logprobs)}] in:\n{output}");
        Assert.False(CommaDecimal().IsMatch(output), $"A number was printed with a decimal comma:\n{output}");
        Assert.Contains("Timings: time to first token ", output);
        Assert.Matches(@"total \d+\.\d ms", output);
    }

    [Fact]
    public void Json_object_holds_the_output_to_the_beginning_of_one_object_and_refuses_ignore_eos()
    {
        using var checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe });

        var (exit, output, error) = Run("generate", checkpoint.Path, "hello world", "-n", "12", "--json-object", "--json", "--device", "cpu");

        Assert.True(exit == 0, $"exit {exit}; error: {error}");
        var text = JsonDocument.Parse(output).RootElement.GetProperty("text").GetString()!;
        var state = new Cluster.Engine.Sampling.Json.JsonPrefixState();
        Assert.True(text.StartsWith('{') && state.Feed(System.Text.Encoding.UTF8.GetBytes(text)), $"not the beginning of a JSON object: '{text}'");

        var refused = Run("generate", checkpoint.Path, "hello world", "--json-object", "--ignore-eos", "--device", "cpu");
        Assert.True(refused.Exit == 2 && refused.Error.Contains("--ignore-eos"), $"exit {refused.Exit}; error: {refused.Error}");
    }

    [Fact]
    public void Json_schema_holds_the_output_to_the_schema_and_names_what_it_cannot_hold()
    {
        using var checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe });
        var schemaFile = Path.Combine(checkpoint.Path, "verdict.schema.json");
        const string schema = """{"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}""";
        File.WriteAllText(schemaFile, schema);

        var (exit, output, error) = Run("generate", checkpoint.Path, "hello world", "-n", "60", "--json-schema", schemaFile, "--json", "--device", "cpu");

        Assert.True(exit == 0, $"exit {exit}; error: {error}");
        var report = JsonDocument.Parse(output).RootElement;
        var text = report.GetProperty("text").GetString()!;
        var automaton = Cluster.JsonSchemas.TextAutomaton.FromJsonSchema(schema);
        var state = automaton.Start;
        Assert.True(automaton.TryFeed(ref state, System.Text.Encoding.UTF8.GetBytes(text)), $"not the beginning of a value of the schema: '{text}'");

        File.WriteAllText(schemaFile, """{"type": "array", "uniqueItems": true}""");
        var refused = Run("generate", checkpoint.Path, "hello world", "--json-schema", schemaFile, "--device", "cpu");
        Assert.True(refused.Exit == 2 && refused.Error.Contains("/uniqueItems: the keyword \"uniqueItems\" is not supported"), $"exit {refused.Exit}; error: {refused.Error}");
        var missing = Run("generate", checkpoint.Path, "hello world", "--json-schema", schemaFile + ".gone", "--device", "cpu");
        Assert.True(missing.Exit == 2 && missing.Error.Contains("--json-schema: no file"), $"exit {missing.Exit}; error: {missing.Error}");
    }

    [Fact]
    public void Regex_holds_the_whole_output_to_one_match()
    {
        using var checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe });

        var (exit, output, error) = Run("generate", checkpoint.Path, "hello world", "-n", "20", "--regex", "(yes|no), [0-9]{2}", "--json", "--device", "cpu");

        Assert.True(exit == 0, $"exit {exit}; error: {error}");
        var report = JsonDocument.Parse(output).RootElement;
        Assert.Matches("^(yes|no), [0-9]{2}$", report.GetProperty("text").GetString()!);
        var refused = Run("generate", checkpoint.Path, "hello world", "--regex", "(?=a)", "--device", "cpu");
        Assert.True(refused.Exit == 2 && refused.Error.Contains("--regex: the pattern \"(?=a)\" at character 0: lookarounds"), $"exit {refused.Exit}; error: {refused.Error}");
    }

    [Fact]
    public void Json_prints_one_document_with_the_prompt_the_tokens_their_alternatives_usage_and_timings()
    {
        using var checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe });
        var tokenizer = CheckpointTokenizer.Load(checkpoint.Path);

        var (exit, output, error) = Run("generate", checkpoint.Path, "hello world", "-n", "4", "--top-logprobs", "3", "--json", "--device", "cpu");

        Assert.True(exit == 0, $"exit {exit}; error: {error}");
        var report = ParseReport(output);
        var expectedPrompt = tokenizer.Encode("hello world");
        Assert.Equal(expectedPrompt, report.PromptTokens.Select(t => t.Id));
        Assert.All(report.PromptTokens, t => Assert.Equal(tokenizer.TokenPiece(t.Id), t.Piece));
        Assert.True(report.GeneratedTokens.Count == 4 && report.FinishReason == "length",
            $"{report.GeneratedTokens.Count} tokens, finish reason {report.FinishReason}; expected 4 and length.");
        foreach (var token in report.GeneratedTokens)
        {
            Assert.True(float.IsFinite(token.Logprob) && token.Logprob <= 0, $"Token {token.Id}: logprob {token.Logprob}.");
            Assert.True(token.Alternatives.Count == 3, $"Token {token.Id}: {token.Alternatives.Count} alternatives; asked for 3.");
            Assert.True(token.Alternatives[0].Logprob >= token.Alternatives[^1].Logprob, $"Token {token.Id}: alternatives not most likely first.");
            Assert.True(token.Alternatives[0].Id == token.Id, $"Greedy: the chosen token {token.Id} should be the first alternative, got {token.Alternatives[0].Id}.");
        }
        Assert.Equal(tokenizer.Decode(report.GeneratedTokens.Select(t => t.Id)), report.Text);
        Assert.Equal(new ReportUsage(expectedPrompt.Count, 4), report.Usage);
        Assert.True(report.Timings.TotalMs >= report.Timings.TimeToFirstTokenMs && report.Timings.TimeToFirstTokenMs > 0, $"Timings {report.Timings}.");
        Assert.Equal(1024, report.Model.VocabularySize);
    }

    [Fact]
    public void Token_ids_give_the_same_tokens_as_the_text_they_encode()
    {
        using var checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe });
        var ids = CheckpointTokenizer.Load(checkpoint.Path).Encode("hello world");

        var fromText = ParseReport(Run("generate", checkpoint.Path, "hello world", "-n", "5", "--json", "--device", "cpu").Output);
        var fromIds = ParseReport(Run("generate", checkpoint.Path, "--token-ids", string.Join(",", ids), "-n", "5", "--json", "--device", "cpu").Output);

        Assert.Equal(fromText.PromptTokens.Select(t => t.Id), fromIds.PromptTokens.Select(t => t.Id));
        Assert.Equal(fromText.GeneratedTokens.Select(t => t.Id), fromIds.GeneratedTokens.Select(t => t.Id));
    }

    [Theory]
    [InlineData("1,5000,3", "--token-ids entry 1 is 5000, outside the model's vocabulary [0, 1024).")]
    [InlineData("1,-2", "--token-ids entry 1 is -2, outside the model's vocabulary [0, 1024).")]
    [InlineData("1,x", "--token-ids entry 1 is 'x', not an integer token id")]
    [InlineData(" , ", "--token-ids is empty")]
    public void Token_ids_outside_the_vocabulary_or_not_numbers_are_refused_naming_the_entry(string ids, string expected)
    {
        using var checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe });

        var (exit, output, error) = Run("generate", checkpoint.Path, "--token-ids", ids, "--device", "cpu");

        Assert.True(exit == 2 && error.Contains(expected, StringComparison.Ordinal) && output.Length == 0,
            $"exit {exit}; error \"{error}\"; expected it to contain \"{expected}\" and nothing on the output (\"{output}\").");
    }

    [Fact]
    public void A_prompt_must_be_given_once_as_text_or_as_token_ids()
    {
        using var checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe });

        var neither = Run("generate", checkpoint.Path, "--device", "cpu");
        var both = Run("generate", checkpoint.Path, "hello", "--token-ids", "1,2", "--device", "cpu");

        Assert.True(neither.Exit == 2 && neither.Error.Contains("generate needs a prompt", StringComparison.Ordinal), $"Neither: exit {neither.Exit}, error \"{neither.Error}\".");
        Assert.True(both.Exit == 2 && both.Error.Contains("not both", StringComparison.Ordinal), $"Both: exit {both.Exit}, error \"{both.Error}\".");
    }

    [Fact]
    public void No_bos_leaves_out_the_bos_token_a_sentencepiece_checkpoint_adds()
    {
        using var checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.SentencePiece });
        var tokenizer = CheckpointTokenizer.Load(checkpoint.Path);
        Assert.True(tokenizer.AddsBosToken && tokenizer.BosTokenId is not null, "The tiny SentencePiece checkpoint should add BOS (Llama 2 style).");

        var withBos = ParseReport(Run("generate", checkpoint.Path, "hello", "-n", "1", "--json", "--device", "cpu").Output);
        var withoutBos = ParseReport(Run("generate", checkpoint.Path, "hello", "-n", "1", "--json", "--no-bos", "--device", "cpu").Output);

        var withIds = withBos.PromptTokens.Select(t => t.Id).ToList();
        var withoutIds = withoutBos.PromptTokens.Select(t => t.Id).ToList();
        Assert.True(withIds[0] == tokenizer.BosTokenId && withIds.Skip(1).SequenceEqual(withoutIds) && withoutIds[0] != tokenizer.BosTokenId,
            $"With BOS [{string.Join(", ", withIds)}], with --no-bos [{string.Join(", ", withoutIds)}]; BOS is {tokenizer.BosTokenId}.");
    }

    [Fact]
    public void Ignore_eos_generates_past_the_end_of_sequence_token_up_to_the_length_limit()
    {
        using var checkpoint = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe });
        var free = ParseReport(Run("generate", checkpoint.Path, "hello world", "-n", "4", "--json", "--device", "cpu").Output);
        // Make the first greedy token an end-of-sequence token (generation_config.json's ids count as EOS).
        int first = free.GeneratedTokens[0].Id;
        File.WriteAllText(Path.Combine(checkpoint.Path, "generation_config.json"), $"{{\"eos_token_id\": {first}}}");

        var stopped = ParseReport(Run("generate", checkpoint.Path, "hello world", "-n", "4", "--json", "--device", "cpu").Output);
        var ignored = ParseReport(Run("generate", checkpoint.Path, "hello world", "-n", "4", "--json", "--ignore-eos", "--device", "cpu").Output);

        Assert.True(stopped.GeneratedTokens.Count == 1 && stopped.FinishReason == "stop",
            $"With {first} as EOS: {stopped.GeneratedTokens.Count} tokens, finish {stopped.FinishReason}; expected 1 and stop.");
        Assert.True(ignored.FinishReason == "length" && ignored.GeneratedTokens.Select(t => t.Id).SequenceEqual(free.GeneratedTokens.Select(t => t.Id)),
            $"--ignore-eos: [{string.Join(", ", ignored.GeneratedTokens.Select(t => t.Id))}] ({ignored.FinishReason}); expected the free run's [{string.Join(", ", free.GeneratedTokens.Select(t => t.Id))}] (length).");
    }

    private static (int Exit, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = EngineCommands.Invoke(args, new InvocationConfiguration { Output = output, Error = error });
        return (exit, output.ToString(), error.ToString());
    }

    private static GenerationReport ParseReport(string json)
    {
        try
        {
            return GenerationReport.Parse(json) ?? throw new JsonException("null document");
        }
        catch (JsonException e)
        {
            Assert.Fail($"--json printed no single JSON document ({e.Message}):\n{json}");
            throw;
        }
    }

    /// <summary>A log-probability as the report prints it: "logprob -1.234" or an alternative's "12:'x' -1.234".</summary>
    [GeneratedRegex(@"(?<=logprob |' )-?\d+\.\d{3}\b")]
    private static partial Regex LogprobNumber();

    [GeneratedRegex(@"-?\d+,\d{3}\b")]
    private static partial Regex CommaDecimal();
}
