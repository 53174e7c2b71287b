using System.CommandLine;
using Cluster.Contracts.Api;

namespace Cluster.Client.Tests;

/// <summary>The generate command line maps to exactly the GenerateRequest it names; what is left out stays unset.</summary>
public sealed class GenerateCommandTests
{
    [Fact]
    public void Prompt_alone_leaves_every_setting_to_the_server()
    {
        GenerateRequest request = Parse("오늘 날씨 어때?");

        var expected = new GenerateRequest { Text = "오늘 날씨 어때?", Sampling = new SamplingParameters() };
        Assert.True(request.Equals(expected), $"got {request}, expected {expected}");
        Assert.False(request.Sampling.HasTemperature || request.Sampling.HasTopP || request.Sampling.HasMinP || request.Sampling.HasRepetitionPenalty || request.Sampling.HasSeed || request.Sampling.HasMaxNewTokens || request.HasAddSpecialTokens,
            $"an optional field was set: {request}");
    }

    [Fact]
    public void Every_option_maps_to_its_field()
    {
        GenerateRequest request = Parse(
            "Hello", "--model", "tiny", "-n", "12", "--temperature", "0.7", "--top-k", "40", "--top-p", "0.9", "--min-p", "0.05",
            "--repetition-penalty", "1.1", "--presence-penalty", "-0.5", "--frequency-penalty", "1.5",
            "--logit-bias", "50256=-100", "--logit-bias", "13=2.5", "--json-object", "--seed", "18446744073709551615", "--stop", "\n\n", "--stop", "END",
            "--stop-token-id", "7", "--stop-token-id", "9", "--ignore-eos", "--logprobs", "5", "--no-bos", "--session", "s-42");

        var expected = new GenerateRequest
        {
            Model = "tiny",
            Text = "Hello",
            SessionId = "s-42",
            Logprobs = true,
            TopLogprobs = 5,
            AddSpecialTokens = false,
            Sampling = new SamplingParameters
            {
                MaxNewTokens = 12,
                Temperature = 0.7f,
                TopK = 40,
                TopP = 0.9f,
                MinP = 0.05f,
                RepetitionPenalty = 1.1f,
                PresencePenalty = -0.5f,
                FrequencyPenalty = 1.5f,
                LogitBias = { [50256] = -100f, [13] = 2.5f },
                ResponseFormat = ResponseFormat.JsonObject,
                Seed = ulong.MaxValue,
                Stop = { "\n\n", "END" },
                StopTokenIds = { 7, 9 },
                IgnoreEos = true,
            },
        };
        Assert.True(request.Equals(expected), $"got {request}, expected {expected}");
    }

    [Fact]
    public void Json_schema_sends_the_files_schema_with_its_format()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """{"type": "object"}""");
            GenerateRequest request = Parse("Hi", "--json-schema", file);

            Assert.True(request.Sampling is { ResponseFormat: ResponseFormat.JsonSchema, JsonSchema: """{"type": "object"}""" }, $"got {request}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Regex_sends_the_pattern_with_its_format()
    {
        GenerateRequest request = Parse("Hi", "--regex", "yes|no");

        Assert.True(request.Sampling is { ResponseFormat: ResponseFormat.Regex, Regex: "yes|no" }, $"got {request}");
    }

    [Fact]
    public void Logprobs_zero_asks_for_the_chosen_tokens_only()
    {
        GenerateRequest request = Parse("Hi", "--logprobs", "0");

        Assert.True(request is { Logprobs: true, TopLogprobs: 0 }, $"got {request}");
    }

    [Fact]
    public void Prompt_logprobs_asks_to_score_the_prompt_and_is_unset_without_it()
    {
        GenerateRequest scored = Parse("Hi", "--prompt-logprobs", "2");
        GenerateRequest plain = Parse("Hi");

        Assert.True(scored is { HasPromptLogprobs: true, PromptLogprobs: 2 } && !plain.HasPromptLogprobs, $"got {scored} and {plain}");
    }

    [Fact]
    public void Temperature_zero_is_sent_not_dropped()
    {
        GenerateRequest request = Parse("Hi", "-t", "0");

        Assert.True(request.Sampling.HasTemperature && request.Sampling.Temperature == 0f, $"got {request}");
    }

    [Theory]
    [InlineData("-n", "many")]
    [InlineData("--temperature", "warm")]
    [InlineData("--seed", "-1")]
    [InlineData("--logit-bias", "50256")]
    [InlineData("--logit-bias", "x=1")]
    [InlineData("--logit-bias", "5=strong")]
    [InlineData("--presence-penalty", "high")]
    [InlineData("--json-schema", "/nonexistent/schema.json")]
    public void Malformed_values_are_parse_errors(string option, string value)
    {
        ParseResult parse = ClientCommands.Create().Parse(["Hi", option, value]);

        Assert.True(parse.Errors.Count > 0, $"{option} {value} parsed without errors");
    }

    [Theory]
    [InlineData("tokenize", "hello")]
    [InlineData("count", "hello")]
    [InlineData("models")]
    [InlineData("delete-session", "s-1")]
    public void Subcommands_parse(params string[] args)
    {
        ParseResult parse = ClientCommands.Create().Parse([.. args, "--address", "http://gateway:5000"]);

        Assert.True(parse.Errors.Count == 0, $"{string.Join(" ", args)}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
        Assert.Equal(args[0], parse.CommandResult.Command.Name);
        Assert.Equal("http://gateway:5000", parse.GetValue(GatewayConnection.Address));
    }

    [Fact]
    public void Address_defaults_to_localhost_5000()
    {
        ParseResult parse = ClientCommands.Create().Parse(["Hi"]);

        Assert.Equal("http://localhost:5000", parse.GetValue(GatewayConnection.Address));
    }

    [Fact]
    public void Chat_and_system_send_messages_instead_of_text()
    {
        GenerateRequest chat = Parse("What is grace?", "--chat");
        GenerateRequest system = Parse("What is grace?", "--system", "Answer in one line.");

        Assert.True(chat.PromptCase == GenerateRequest.PromptOneofCase.Messages && chat.Messages.Messages.Count == 1
            && chat.Messages.Messages[0].Role == "user" && chat.Messages.Messages[0].Content == "What is grace?", $"--chat: {chat}");
        Assert.True(system.PromptCase == GenerateRequest.PromptOneofCase.Messages && system.Messages.Messages.Select(m => $"{m.Role}:{m.Content}")
            .SequenceEqual(["system:Answer in one line.", "user:What is grace?"]), $"--system: {system}");
    }

    private static GenerateRequest Parse(params string[] args)
    {
        var generate = new GenerateCommand();
        ParseResult parse = ClientCommands.Create(generate).Parse(args);
        Assert.True(parse.Errors.Count == 0, $"{string.Join(" ", args)}: {string.Join("; ", parse.Errors.Select(e => e.Message))}");
        return generate.ToRequest(parse);
    }
}
