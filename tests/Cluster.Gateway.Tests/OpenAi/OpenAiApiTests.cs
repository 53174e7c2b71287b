using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cluster.Contracts.Api;
using Cluster.Gateway.Tests.EndToEnd;
using Grpc.Core;
using OpenAI;
using OpenAI.Chat;
using ChatMessage = OpenAI.Chat.ChatMessage;

namespace Cluster.Gateway.Tests.OpenAi;

/// <summary>
/// The OpenAI-compatible HTTP API on a real gateway port, over two stages, called by the official OpenAI .NET SDK and
/// by plain HTTP as curl would: it generates the same tokens as gRPC Generate for the same request, streams them as
/// server-sent events, and refuses what it must in OpenAI's error shape with the right HTTP status.
/// </summary>
public sealed class OpenAiApiTests : IAsyncLifetime
{
    private const string Template =
        "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

    private ClusterUnderTest _cluster = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 2, metricsPort: true, addCheckpointFiles: directory =>
            File.WriteAllText(Path.Combine(directory, "chat_template.jinja"), Template));
        _http = new HttpClient { BaseAddress = new Uri(_cluster.MetricsAddress! + "/v1/"), Timeout = TimeSpan.FromMinutes(2) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _cluster.DisposeAsync();
    }

    private ChatClient Chat() => new(ClusterUnderTest.ModelName, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _http.BaseAddress });

    [Fact]
    public async Task ModelsListsTheServedModelWithItsContextLength()
    {
        var list = await _http.GetFromJsonAsync<JsonObject>("models");
        var model = Assert.Single(list!["data"]!.AsArray())!;
        Assert.Equal(ClusterUnderTest.ModelName, (string?)model["id"]);
        Assert.Equal("model", (string?)model["object"]);
        var info = Assert.Single((await _cluster.Client.ListModelsAsync(new ListModelsRequest())).Models);
        Assert.Equal(info.ContextLength, (uint)model["max_model_len"]!);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync($"models/{ClusterUnderTest.ModelName}")).StatusCode);
        await AssertErrorAsync(await _http.GetAsync("models/nope"), HttpStatusCode.NotFound, "model", "model_not_found");
    }

    [Fact]
    public async Task TheSdksChatCompletionEqualsGrpcGenerateWithTheSameMessages()
    {
        var (grpcText, grpcLast) = await GrpcChatAsync(maxTokens: 10);

        ChatCompletion completion = await Chat().CompleteChatAsync(
            [ChatMessage.CreateSystemMessage("Be brief."), ChatMessage.CreateUserMessage("hello there")],
            new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 10, IncludeLogProbabilities = true, TopLogProbabilityCount = 2 });

        Assert.True(completion.ContentTokenLogProbabilities.Count == completion.Usage.OutputTokenCount
            && completion.ContentTokenLogProbabilities.All(t => t.LogProbability <= 0 && t.TopLogProbabilities.Count == 2),
            $"{completion.ContentTokenLogProbabilities.Count} token log-probabilities for {completion.Usage.OutputTokenCount} tokens, each should have 2 alternatives");
        Assert.Equal(completion.Content[0].Text, string.Concat(completion.ContentTokenLogProbabilities.Select(t => t.Token)));
        Assert.True(completion.Content[0].Text == grpcText,
            $"chat.completion text '{completion.Content[0].Text}'; gRPC Generate with the same messages '{grpcText}'");
        Assert.Equal((int)grpcLast.Usage.PromptTokens, completion.Usage.InputTokenCount);
        Assert.Equal((int)grpcLast.Usage.GeneratedTokens, completion.Usage.OutputTokenCount);
        Assert.Equal(grpcLast.FinishReason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
    }

    [Fact]
    public async Task TheSdksStreamedChatCarriesTheSameTextAndEndsWithUsage()
    {
        var (grpcText, grpcLast) = await GrpcChatAsync(maxTokens: 10);

        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        var updates = 0;
        await foreach (var update in Chat().CompleteChatStreamingAsync(
            [ChatMessage.CreateSystemMessage("Be brief."), ChatMessage.CreateUserMessage("hello there")],
            new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 10 }))
        {
            updates++;
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }

        Assert.True(text.ToString() == grpcText, $"streamed text '{text}' in {updates} updates; gRPC '{grpcText}'");
        Assert.True(updates >= grpcLast.Usage.GeneratedTokens, $"{updates} updates for {grpcLast.Usage.GeneratedTokens} tokens: the stream was not sent token by token");
        Assert.NotNull(finish);
        Assert.True(usage is not null && usage.OutputTokenCount == grpcLast.Usage.GeneratedTokens && usage.InputTokenCount == grpcLast.Usage.PromptTokens,
            $"usage {(usage is null ? "missing" : $"{usage.InputTokenCount} in / {usage.OutputTokenCount} out")}; gRPC {grpcLast.Usage.PromptTokens} / {grpcLast.Usage.GeneratedTokens}");
    }

    [Fact]
    public async Task ACompletionEqualsGrpcGenerateAndItsStreamEndsWithUsageAndDone()
    {
        var grpc = new GenerateRequest { Text = "Once upon a time", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 12, IgnoreEos = true } };
        var (grpcText, grpcLast) = await GrpcGenerateAsync(grpc);
        var body = new JsonObject { ["model"] = ClusterUnderTest.ModelName, ["prompt"] = "Once upon a time", ["max_tokens"] = 12, ["temperature"] = 0, ["ignore_eos"] = true, ["logprobs"] = 2 };

        var response = await _http.PostAsJsonAsync("completions", body);
        var json = await ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal("text_completion", (string?)json["object"]);
        var choice = json["choices"]![0]!;
        Assert.True((string?)choice["text"] == grpcText, $"completion text '{choice["text"]}'; gRPC '{grpcText}'");
        Assert.Equal("length", (string?)choice["finish_reason"]);
        Assert.Equal(12, (int)json["usage"]!["completion_tokens"]!);
        Assert.Equal((int)grpcLast.Usage.PromptTokens + 12, (int)json["usage"]!["total_tokens"]!);
        var logprobs = choice["logprobs"]!;
        Assert.Equal(12, logprobs["tokens"]!.AsArray().Count);
        Assert.Equal(string.Concat(logprobs["tokens"]!.AsArray().Select(t => (string?)t)), (string?)choice["text"]);
        Assert.All(logprobs["top_logprobs"]!.AsArray(), top => Assert.InRange(top!.AsObject().Count, 1, 2));
        Assert.All(logprobs["token_logprobs"]!.AsArray(), lp => Assert.True((float)lp! <= 0, $"log-probability {lp} > 0"));

        body["stream"] = true;
        body["stream_options"] = new JsonObject { ["include_usage"] = true };
        var events = await StreamAsync("completions", body);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        var usageChunk = chunks[^1];
        Assert.Empty(usageChunk["choices"]!.AsArray());
        Assert.Equal(12, (int)usageChunk["usage"]!["completion_tokens"]!);
        var streamed = string.Concat(chunks.SelectMany(c => c["choices"]!.AsArray()).Select(c => (string?)c!["text"]));
        Assert.True(streamed == grpcText, $"streamed '{streamed}' in {chunks.Count} chunks; gRPC '{grpcText}'");
        Assert.Equal("length", (string?)chunks[^2]["choices"]![0]!["finish_reason"]);
    }

    [Fact]
    public async Task ACompletionFromTokenIdsEqualsOneFromTheirText()
    {
        var ids = (await _cluster.Client.TokenizeAsync(new TokenizeRequest { Text = "And God said" })).Tokens.Select(t => t.Id).ToArray();
        var fromText = await ReadJsonAsync(await _http.PostAsJsonAsync("completions", new JsonObject { ["prompt"] = "And God said", ["max_tokens"] = 6, ["temperature"] = 0, ["ignore_eos"] = true }), HttpStatusCode.OK);
        var fromIds = await ReadJsonAsync(await _http.PostAsJsonAsync("completions", new JsonObject { ["prompt"] = new JsonArray([.. ids.Select(i => (JsonNode)i)]), ["max_tokens"] = 6, ["temperature"] = 0, ["ignore_eos"] = true }), HttpStatusCode.OK);
        Assert.Equal((string?)fromText["choices"]![0]!["text"], (string?)fromIds["choices"]![0]!["text"]);
        Assert.Equal((int)fromText["usage"]!["prompt_tokens"]!, (int)fromIds["usage"]!["prompt_tokens"]!);
    }

    [Theory]
    [InlineData("""{"prompt": "hi", "temperature": -1}""", "temperature", "temperature must be >= 0")]
    [InlineData("""{"prompt": "hi", "temperature": "hot"}""", "temperature", "temperature must be a number")]
    [InlineData("""{"prompt": "hi", "n": 17}""", "n", "n must be in [1, 16]; got 17")]
    [InlineData("""{"prompt": "hi", "n": 0}""", "n", "n must be in [1, 16]; got 0")]
    [InlineData("""{"prompt": "hi", "max_tokens": 100000}""", "max_tokens", "max_tokens must be in [1, ")]
    [InlineData("""{"prompt": "hi", "max_tokens": 250, "ignore_eos": true, "stop": ["a", ""]}""", "stop", "stop[1] is empty")]
    [InlineData("""{"prompt": "hi", "logprobs": 50}""", "logprobs", "logprobs must be in [0, 20]")]
    [InlineData("""{"prompt": "hi", "response_format": {"type": "json_schema", "json_schema": {}}}""", "response_format", "response_format.json_schema.schema is required")]
    [InlineData("""{"prompt": "hi", "response_format": {"type": "json_schema"}}""", "response_format", "response_format.json_schema is required")]
    [InlineData("""{"prompt": "hi", "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "array", "uniqueItems": true}}}}""", "response_format", "response_format.json_schema.schema at /uniqueItems: the keyword \"uniqueItems\" is not supported")]
    [InlineData("""{"prompt": "hi", "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "integer", "minimum": 3, "maximum": 2}}}}""", "response_format", "no integer satisfies minimum 3 and maximum 2")]
    [InlineData("""{"prompt": "hi", "response_format": {"type": "grammar"}}""", "response_format", "response_format.type \"grammar\" is not supported")]
    [InlineData("""{"prompt": "hi", "response_format": "json"}""", "response_format", "response_format must be an object")]
    [InlineData("""{"prompt": "hi", "response_format": {"type": "json_object"}, "ignore_eos": true}""", "response_format", "cannot be combined with ignore_eos")]
    [InlineData("""{"prompt": "hi", "presence_penalty": 2.5}""", "presence_penalty", "presence_penalty must be in [-2, 2]; got 2.5")]
    [InlineData("""{"prompt": "hi", "frequency_penalty": -3}""", "frequency_penalty", "frequency_penalty must be in [-2, 2]; got -3")]
    [InlineData("""{"prompt": "hi", "logit_bias": {"a": 1}}""", "logit_bias", "logit_bias keys must be token ids")]
    [InlineData("""{"prompt": "hi", "logit_bias": {"5": "up"}}""", "logit_bias[5]", "logit_bias[5] must be a number")]
    [InlineData("""{"prompt": "hi", "logit_bias": {"5": 101}}""", "logit_bias", "logit_bias[5] must be in [-100, 100]; got 101")]
    [InlineData("""{"prompt": "hi", "logit_bias": {"99999999": 1}}""", "logit_bias", "token id 99999999 is outside the vocabulary")]
    [InlineData("""{"prompt": "hi", "logit_bias": [1]}""", "logit_bias", "logit_bias must be an object")]
    [InlineData("""{"prompt": ["a", 5]}""", "prompt", "prompt mixes prompts and token ids")]
    [InlineData("""{"prompt": ["a", "b", "c", "d", "e"], "n": 16}""", "prompt", "prompt has 5 prompts and n is 16: at most 64 completions per request")]
    [InlineData("""{"prompt": ["a", [1, 99999999]]}""", "prompt", "99999999")]
    [InlineData("""{"prompt": [1, 99999999]}""", "prompt", "99999999")]
    [InlineData("""{"temperature": 0}""", "prompt", "prompt is required")]
    [InlineData("""{"prompt": "hi", "stream_options": {"include_usage": true}}""", "stream_options", "only allowed when stream is true")]
    [InlineData("""{"prompt": "hi" """, null, "not valid JSON")]
    public async Task ABadCompletionIsA400NamingTheField(string body, string? param, string message)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        var error = await AssertErrorAsync(await _http.PostAsync("completions", content), HttpStatusCode.BadRequest, param, null);
        Assert.Contains(message, (string?)error["message"]);
    }

    [Fact]
    public async Task ToolsForATemplateThatNeverShowsThemAreRefused()
    {
        var body = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hello" }),
            ["tools"] = new JsonArray(new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "f" } }),
        };
        var error = await AssertErrorAsync(await _http.PostAsJsonAsync("chat/completions", body), HttpStatusCode.BadRequest, "tools", null);
        Assert.Contains("does not render tools", (string?)error["message"]);
    }

    [Fact]
    public async Task AChatWhoseContextOverflowsNamesMaxCompletionTokensAndAnUnknownModelIs404()
    {
        var overflow = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hello" }),
            ["max_completion_tokens"] = 4000,
        };
        var error = await AssertErrorAsync(await _http.PostAsJsonAsync("chat/completions", overflow), HttpStatusCode.BadRequest, "max_completion_tokens", null);
        Assert.Contains("max_completion_tokens", (string?)error["message"]);

        overflow["model"] = "no-such-model";
        await AssertErrorAsync(await _http.PostAsJsonAsync("chat/completions", overflow), HttpStatusCode.NotFound, "model", "model_not_found");
    }

    [Fact]
    public async Task AStoppingGatewayAnswers503()
    {
        _cluster.BeginGatewayStop();
        var error = await AssertErrorAsync(await _http.PostAsJsonAsync("completions", new JsonObject { ["prompt"] = "hi" }), HttpStatusCode.ServiceUnavailable, null, null);
        Assert.Contains("shutting down", (string?)error["message"]);
    }

    [Fact]
    public async Task PenaltiesAndLogitBiasReachTheSamplerAsTheyDoThroughGrpc()
    {
        // Greedy, so every difference comes from the parameters: ban the unbiased first token and penalise repeats.
        var plainIds = await GeneratedIdsAsync(new SamplingParameters { Temperature = 0, MaxNewTokens = 10, IgnoreEos = true });
        var sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 10, IgnoreEos = true, FrequencyPenalty = 1.5f, PresencePenalty = 0.5f };
        sampling.LogitBias[plainIds[0]] = -100;
        var grpcIds = await GeneratedIdsAsync(sampling);
        Assert.True(grpcIds[0] != plainIds[0], $"logit_bias -100 on token {plainIds[0]} left it first: {string.Join(",", grpcIds)}");
        var grpcText = (await GrpcGenerateAsync(new GenerateRequest { Text = "And God said", Sampling = sampling })).Text;

        var body = new JsonObject
        {
            ["prompt"] = "And God said", ["max_tokens"] = 10, ["temperature"] = 0, ["ignore_eos"] = true,
            ["frequency_penalty"] = 1.5, ["presence_penalty"] = 0.5,
            ["logit_bias"] = new JsonObject { [plainIds[0].ToString(System.Globalization.CultureInfo.InvariantCulture)] = -100 },
        };
        var http = await ReadJsonAsync(await _http.PostAsJsonAsync("completions", body), HttpStatusCode.OK);
        Assert.Equal(10, (int)http["usage"]!["completion_tokens"]!);
        Assert.True((string?)http["choices"]![0]!["text"] == grpcText, $"HTTP '{(string?)http["choices"]![0]!["text"]}', gRPC '{grpcText}'");
    }

    [Fact]
    public async Task NChoicesAreSeedPlusIndexEachAndTheirUsageIsSummedWithThePromptOnce()
    {
        var body = new JsonObject { ["prompt"] = "And God said", ["max_tokens"] = 6, ["temperature"] = 1.5, ["seed"] = 11, ["ignore_eos"] = true, ["n"] = 3 };
        var http = await ReadJsonAsync(await _http.PostAsJsonAsync("completions", body), HttpStatusCode.OK);

        var choices = http["choices"]!.AsArray();
        Assert.Equal([0, 1, 2], choices.Select(c => (int)c!["index"]!));
        var texts = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var sampling = new SamplingParameters { Temperature = 1.5f, Seed = 11UL + (ulong)i, MaxNewTokens = 6, IgnoreEos = true };
            var (grpcText, grpcLast) = await GrpcGenerateAsync(new GenerateRequest { Text = "And God said", Sampling = sampling });
            Assert.True((string?)choices[i]!["text"] == grpcText, $"choice {i}: HTTP '{(string?)choices[i]!["text"]}', gRPC with seed {11 + i} '{grpcText}'");
            Assert.Equal("length", (string?)choices[i]!["finish_reason"]);
            texts.Add(grpcText);
            if (i == 0)
            {
                Assert.Equal((int)grpcLast.Usage.PromptTokens, (int)http["usage"]!["prompt_tokens"]!);
            }
        }
        Assert.True(texts.Distinct().Count() > 1, $"three seeds gave one text '{texts[0]}': the choices are not independent");
        Assert.Equal(18, (int)http["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task AStreamOfNChatChoicesInterleavesThemByIndexAndEndsWithTheUsageOfAll()
    {
        var messages = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hello there" });
        JsonObject Body(bool stream) => new()
        {
            ["messages"] = messages.DeepClone(), ["max_tokens"] = 5, ["temperature"] = 1.2, ["seed"] = 21, ["n"] = 2, ["stream"] = stream,
        };
        var whole = await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions", Body(false)), HttpStatusCode.OK);
        var streamBody = Body(true);
        streamBody["stream_options"] = new JsonObject { ["include_usage"] = true };

        var events = await StreamAsync("chat/completions", streamBody);

        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonNode.Parse(e)!).ToList();
        var usage = chunks[^1];
        Assert.Empty(usage["choices"]!.AsArray());
        Assert.Equal((int)whole["usage"]!["completion_tokens"]!, (int)usage["usage"]!["completion_tokens"]!);
        Assert.Equal(10, (int)usage["usage"]!["completion_tokens"]!);
        var byIndex = chunks[..^1].Select(c => Assert.Single(c["choices"]!.AsArray())!).GroupBy(c => (int)c["index"]!).OrderBy(g => g.Key).ToList();
        Assert.Equal([0, 1], byIndex.Select(g => g.Key));
        foreach (var choice in byIndex)
        {
            var first = choice.First();
            Assert.True((string?)first["delta"]!["role"] == "assistant", $"choice {choice.Key} opened with {first.ToJsonString()}");
            var streamed = string.Concat(choice.Select(c => (string?)c["delta"]!["content"]));
            var expected = (string?)whole["choices"]![choice.Key]!["message"]!["content"];
            Assert.True(streamed == expected, $"choice {choice.Key}: streamed '{streamed}', whole '{expected}'");
            Assert.Equal("length", (string?)choice.Last()["finish_reason"]);
        }
    }

    [Fact]
    public async Task JsonModeAnswersWhatGrpcDoesAndTheSdkReadsIt()
    {
        // A chat held to JSON: the text is the beginning of an object (the test model's random weights rarely close
        // one), the same as gRPC's for the same request.
        var body = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hello there" }),
            ["max_tokens"] = 12, ["temperature"] = 0, ["response_format"] = new JsonObject { ["type"] = "json_object" },
        };
        var http = await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions", body), HttpStatusCode.OK);
        var content = (string?)http["choices"]![0]!["message"]!["content"];
        Assert.True(content?.StartsWith('{') == true, $"JSON mode answered '{content}'");
        var state = new Cluster.Engine.Sampling.Json.JsonPrefixState();
        Assert.True(state.Feed(Encoding.UTF8.GetBytes(content!)), $"not the beginning of a JSON object: {content}");

        var request = new GenerateRequest { Messages = new ChatMessages(), Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 12, ResponseFormat = ResponseFormat.JsonObject } };
        request.Messages.Messages.Add(new Contracts.Api.ChatMessage { Role = "user", Content = "hello there" });
        Assert.Equal((await GrpcGenerateAsync(request)).Text, content);

        var sdk = await Chat().CompleteChatAsync([ChatMessage.CreateUserMessage("hello there")],
            new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0, ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat() });
        Assert.Equal(content, sdk.Value.Content[0].Text);
    }

    /// <summary>Two booleans: every byte but whitespace (at most 20 bytes a run) is forced, so even the test model's random weights finish.</summary>
    private const string VerdictSchema = """
        {"type": "object", "properties": {"ok": {"type": "boolean"}, "done": {"type": "boolean"}}, "required": ["ok", "done"], "additionalProperties": false}
        """;

    private sealed record Verdict(bool Ok, bool Done);

    [Fact]
    public async Task StructuredOutputsAnswerWhatTheSchemaAllows_ToTheSdkAndMicrosoftExtensionsAI()
    {
        var body = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "is it done?" }),
            ["max_tokens"] = 200, ["temperature"] = 0,
            ["response_format"] = new JsonObject
            {
                ["type"] = "json_schema",
                ["json_schema"] = new JsonObject { ["name"] = "verdict", ["strict"] = true, ["schema"] = JsonNode.Parse(VerdictSchema) },
            },
        };
        var http = await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions", body), HttpStatusCode.OK);
        var content = (string?)http["choices"]![0]!["message"]!["content"];
        Assert.True((string?)http["choices"]![0]!["finish_reason"] == "stop", $"finished {(string?)http["choices"]![0]!["finish_reason"]}: {content}");
        var automaton = Cluster.JsonSchemas.TextAutomaton.FromJsonSchema(VerdictSchema);
        var state = automaton.Start;
        Assert.True(automaton.TryFeed(ref state, Encoding.UTF8.GetBytes(content!)) && automaton.CanEnd(state), $"not a value of the schema: {content}");
        using (var parsed = JsonDocument.Parse(content!))
        {
            Assert.Equal(["ok", "done"], parsed.RootElement.EnumerateObject().Select(p => p.Name));
        }

        var request = new GenerateRequest
        {
            Messages = new ChatMessages(),
            Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 200, ResponseFormat = ResponseFormat.JsonSchema, JsonSchema = VerdictSchema },
        };
        request.Messages.Messages.Add(new Contracts.Api.ChatMessage { Role = "user", Content = "is it done?" });
        Assert.Equal((await GrpcGenerateAsync(request)).Text, content);

        var sdk = await Chat().CompleteChatAsync([ChatMessage.CreateUserMessage("is it done?")], new ChatCompletionOptions
        {
            MaxOutputTokenCount = 200, Temperature = 0,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("verdict", BinaryData.FromString(VerdictSchema), jsonSchemaIsStrict: true),
        });
        Assert.Equal(content, sdk.Value.Content[0].Text);

        // Microsoft.Extensions.AI's typed call writes its own schema for the record and reads the answer back into it.
        Microsoft.Extensions.AI.IChatClient client = Microsoft.Extensions.AI.OpenAIClientExtensions.AsIChatClient(Chat());
        var typed = await Microsoft.Extensions.AI.ChatClientStructuredOutputExtensions.GetResponseAsync<Verdict>(client, "is it done?",
            new Microsoft.Extensions.AI.ChatOptions { MaxOutputTokens = 200, Temperature = 0 });
        Assert.True(typed.TryGetResult(out var verdict), $"Microsoft.Extensions.AI could not read '{typed.Text}' as a Verdict");
        Assert.NotNull(verdict);

        // An enforced format: the answer's date-time is RFC 3339, so .NET parses it (Microsoft.Extensions.AI's OpenAI
        // adapter moves format into the description for OpenAI's strict mode, so this goes as the SDK sends a schema).
        var dated = await Chat().CompleteChatAsync([ChatMessage.CreateUserMessage("when?")], new ChatCompletionOptions
        {
            MaxOutputTokenCount = 200, Temperature = 0,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("appointment", BinaryData.FromString(
                """{"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}}, "required": ["when"]}""")),
        });
        var when = JsonDocument.Parse(dated.Value.Content[0].Text).RootElement.GetProperty("when").GetString();
        Assert.True(DateTimeOffset.TryParse(when, System.Globalization.CultureInfo.InvariantCulture, out _), $"not a date-time: {when}");

        // Number keywords, as Pydantic writes them for conint(ge=1, le=5): the answer's numbers keep to them.
        var rated = await Chat().CompleteChatAsync([ChatMessage.CreateUserMessage("rate it")], new ChatCompletionOptions
        {
            MaxOutputTokenCount = 200, Temperature = 0,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("rating", BinaryData.FromString("""
                {"type": "object", "properties": {
                    "stars": {"type": "integer", "minimum": 1, "maximum": 5},
                    "shift": {"type": "integer", "exclusiveMinimum": -12, "exclusiveMaximum": 7, "multipleOf": 3}},
                 "required": ["stars", "shift"], "additionalProperties": false}
                """), jsonSchemaIsStrict: true),
        });
        var rating = JsonDocument.Parse(rated.Value.Content[0].Text).RootElement;
        var (stars, shift) = (rating.GetProperty("stars").GetInt32(), rating.GetProperty("shift").GetInt32());
        Assert.True(stars is >= 1 and <= 5 && shift is > -12 and < 7 && shift % 3 == 0, $"out of the schema's range: {rated.Value.Content[0].Text}");
    }

    [Fact]
    public async Task GuidedChoiceAndRegexHoldTheWholeAnswer_AsVllmsExtrasDo()
    {
        string[] choices = ["positive", "negative", "neutral (unsure)"];
        foreach (var (guide, value) in new (string, JsonNode)[]
        {
            ("guided_choice", new JsonArray([.. choices.Select(c => (JsonNode)c)])),
            ("structured_outputs", new JsonObject { ["choice"] = new JsonArray([.. choices.Select(c => (JsonNode)c)]) }),
        })
        {
            var body = new JsonObject
            {
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "how was it?" }),
                ["max_tokens"] = 30, ["temperature"] = 1, ["seed"] = 9, [guide] = value,
            };
            var answer = await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions", body), HttpStatusCode.OK);
            var content = (string?)answer["choices"]![0]!["message"]!["content"];
            Assert.True(choices.Contains(content) && (string?)answer["choices"]![0]!["finish_reason"] == "stop", $"{guide}: answered '{content}'");
        }

        var regex = new JsonObject { ["prompt"] = "code:", ["max_tokens"] = 30, ["temperature"] = 1, ["seed"] = 4, ["guided_regex"] = "[A-C]{2}-\\d{3}" };
        var text = (string?)(await ReadJsonAsync(await _http.PostAsJsonAsync("completions", regex), HttpStatusCode.OK))["choices"]![0]!["text"];
        Assert.Matches("^[A-C]{2}-[0-9]{3}$", text);

        var both = new JsonObject { ["prompt"] = "hi", ["guided_regex"] = "a", ["response_format"] = new JsonObject { ["type"] = "json_object" } };
        var error = await AssertErrorAsync(await _http.PostAsJsonAsync("completions", both), HttpStatusCode.BadRequest, "guided_regex", null);
        Assert.Contains("cannot be combined with response_format", (string?)error["message"]);
        var bad = new JsonObject { ["prompt"] = "hi", ["guided_regex"] = "(?<=a)b" };
        error = await AssertErrorAsync(await _http.PostAsJsonAsync("completions", bad), HttpStatusCode.BadRequest, "guided_regex", null);
        Assert.Contains("lookarounds", (string?)error["message"]);
    }

    [Fact]
    public async Task EchoStartsEachChoiceWithThePromptStreamedOrNot()
    {
        JsonObject Body(JsonNode prompt, bool echo, bool stream) => new()
        {
            ["prompt"] = prompt, ["max_tokens"] = 5, ["temperature"] = 0, ["ignore_eos"] = true, ["echo"] = echo, ["stream"] = stream, ["n"] = 2,
        };
        var plain = await ReadJsonAsync(await _http.PostAsJsonAsync("completions", Body("And God said", echo: false, stream: false)), HttpStatusCode.OK);
        var completion = (string?)plain["choices"]![0]!["text"];

        var echoed = await ReadJsonAsync(await _http.PostAsJsonAsync("completions", Body("And God said", echo: true, stream: false)), HttpStatusCode.OK);
        Assert.All(echoed["choices"]!.AsArray(), choice => Assert.Equal("And God said" + completion, (string?)choice!["text"]));
        Assert.Equal((int)plain["usage"]!["completion_tokens"]!, (int)echoed["usage"]!["completion_tokens"]!);

        var ids = (await _cluster.Client.TokenizeAsync(new TokenizeRequest { Text = "And God said" })).Tokens.Select(t => t.Id).ToArray();
        var fromIds = await ReadJsonAsync(await _http.PostAsJsonAsync("completions", Body(new JsonArray([.. ids.Select(i => (JsonNode)i)]), echo: true, stream: false)), HttpStatusCode.OK);
        Assert.Equal("And God said" + completion, (string?)fromIds["choices"]![0]!["text"]);

        var events = await StreamAsync("completions", Body("And God said", echo: true, stream: true));
        var chunks = events[..^1].Select(e => Assert.Single(JsonNode.Parse(e)!["choices"]!.AsArray())!).ToList();
        foreach (var index in new[] { 0, 1 })
        {
            var texts = chunks.Where(c => (int)c["index"]! == index).Select(c => (string?)c["text"]).ToList();
            Assert.True(texts[0] == "And God said" && string.Concat(texts) == "And God said" + completion,
                $"choice {index} streamed [{string.Join(" | ", texts)}]; expected the prompt first, then '{completion}'");
        }
    }

    [Fact]
    public async Task EchoWithLogprobsScoresThePrompt_AsEvaluationHarnessesAskForLogLikelihoods()
    {
        // lm-evaluation-harness's loglikelihood request: the prompt echoed with its tokens' log-probabilities.
        var body = new JsonObject { ["prompt"] = "And God said, Let there be light", ["max_tokens"] = 1, ["temperature"] = 0, ["echo"] = true, ["logprobs"] = 2 };
        var choice = (await ReadJsonAsync(await _http.PostAsJsonAsync("completions", body), HttpStatusCode.OK))["choices"]![0]!;
        var logprobs = choice["logprobs"]!;
        var grpc = new GenerateRequest { Text = "And God said, Let there be light", PromptLogprobs = 2, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 1 } };
        GenerateResponse first;
        using (var call = _cluster.Client.Generate(grpc))
        {
            Assert.True(await call.ResponseStream.MoveNext(), "no message");
            first = call.ResponseStream.Current;
        }
        var prompt = first.PromptTokenIds.Count;
        var tokenLogprobs = logprobs["token_logprobs"]!.AsArray();
        var top = logprobs["top_logprobs"]!.AsArray();
        Assert.True(logprobs["tokens"]!.AsArray().Count == prompt + 1 && tokenLogprobs.Count == prompt + 1 && tokenLogprobs[0] is null && top[0] is null,
            $"{prompt} prompt tokens and one generated; got {logprobs.ToJsonString()}");
        for (var p = 1; p < prompt; p++)
        {
            Assert.Equal(first.PromptLogprobs[p - 1].Logprob, (float)tokenLogprobs[p]!);
            Assert.Equal(2, top[p]!.AsObject().Count);
        }
        var offsets = logprobs["text_offset"]!.AsArray().Select(o => (int)o!).ToList();
        Assert.True(offsets[0] == 0 && offsets.Zip(offsets.Skip(1)).All(pair => pair.First <= pair.Second), $"text offsets [{string.Join(", ", offsets)}]");
        Assert.StartsWith("And God said, Let there be light", (string?)choice["text"]);

        // Streamed: the echoed prompt's chunk carries the prompt's log-probabilities.
        body["stream"] = true;
        var chunks = (await StreamAsync("completions", body))[..^1].Select(e => JsonNode.Parse(e)!["choices"]![0]!).ToList();
        Assert.Equal(tokenLogprobs.Take(prompt).Select(l => l?.ToJsonString()), chunks[0]["logprobs"]!["token_logprobs"]!.AsArray().Select(l => l?.ToJsonString()));

        // max_tokens 0 with echo (as scoring tools send it to vLLM): the prompt alone, with its log-probabilities.
        body["stream"] = false;
        body["max_tokens"] = 0;
        var alone = await ReadJsonAsync(await _http.PostAsJsonAsync("completions", body), HttpStatusCode.OK);
        var only = alone["choices"]![0]!;
        Assert.True((string?)only["text"] == "And God said, Let there be light" && (string?)only["finish_reason"] == "length"
            && (int)alone["usage"]!["completion_tokens"]! == 0 && (int)alone["usage"]!["prompt_tokens"]! == prompt,
            alone.ToJsonString());
        Assert.Equal(tokenLogprobs.Take(prompt).Select(l => l?.ToJsonString()), only["logprobs"]!["token_logprobs"]!.AsArray().Select(l => l?.ToJsonString()));
        body["echo"] = false;
        await AssertErrorAsync(await _http.PostAsJsonAsync("completions", body), HttpStatusCode.BadRequest, "max_tokens", null);
    }

    [Fact]
    public async Task VllmsTokenizerEndpointsAnswerAsTheGrpcTokenizerAndTheChatPathDo()
    {
        // lm-evaluation-harness's remote tokenizer: /tokenizer_info, /tokenize and /detokenize at the server's root.
        var root = new Uri(_cluster.MetricsAddress! + "/");
        var grpc = (await _cluster.Client.TokenizeAsync(new TokenizeRequest { Text = "And God said" })).Tokens.Select(t => t.Id).ToList();
        var tokenized = await ReadJsonAsync(await _http.PostAsJsonAsync(new Uri(root, "tokenize"), new JsonObject { ["prompt"] = "And God said", ["return_token_strs"] = true }), HttpStatusCode.OK);
        Assert.Equal(grpc, tokenized["tokens"]!.AsArray().Select(t => (int)t!));
        Assert.Equal(grpc.Count, (int)tokenized["count"]!);
        Assert.Equal(grpc.Count, tokenized["token_strs"]!.AsArray().Count);
        var info = Assert.Single((await _cluster.Client.ListModelsAsync(new ListModelsRequest())).Models);
        Assert.Equal(info.ContextLength, (uint)tokenized["max_model_len"]!);

        var text = await ReadJsonAsync(await _http.PostAsJsonAsync(new Uri(root, "detokenize"), new JsonObject { ["tokens"] = tokenized["tokens"]!.DeepClone() }), HttpStatusCode.OK);
        Assert.EndsWith("And God said", (string?)text["prompt"]);

        // Messages are rendered with the chat template, as a chat completion's prompt is.
        var messages = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hello there" });
        var chat = await ReadJsonAsync(await _http.PostAsJsonAsync(new Uri(root, "tokenize"), new JsonObject { ["messages"] = messages.DeepClone() }), HttpStatusCode.OK);
        var completion = await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions", new JsonObject { ["messages"] = messages.DeepClone(), ["max_tokens"] = 1 }), HttpStatusCode.OK);
        Assert.Equal((int)completion["usage"]!["prompt_tokens"]!, (int)chat["count"]!);

        var tokenizer = await ReadJsonAsync(await _http.GetAsync(new Uri(root, "tokenizer_info")), HttpStatusCode.OK);
        Assert.True(tokenizer.AsObject().ContainsKey("eos_token") && (string?)tokenizer["chat_template"] == Template && (uint)tokenizer["model_max_length"]! == info.ContextLength,
            tokenizer.ToJsonString());

        await AssertErrorAsync(await _http.PostAsJsonAsync(new Uri(root, "tokenize"), new JsonObject()), HttpStatusCode.BadRequest, "prompt", null);
        var error = await AssertErrorAsync(await _http.PostAsJsonAsync(new Uri(root, "detokenize"), new JsonObject { ["tokens"] = new JsonArray(1, 99999999) }), HttpStatusCode.BadRequest, null, null);
        Assert.Contains("99999999", (string?)error["message"]);
    }

    [Fact]
    public async Task AListOfPromptsIsABatch_EachPromptCompletedAsIfAlone()
    {
        // As lm-evaluation-harness and OpenAI's own API take it: choices ordered by prompt, then by n.
        var ids = (await _cluster.Client.TokenizeAsync(new TokenizeRequest { Text = "In the beginning" })).Tokens.Select(t => t.Id).ToArray();
        JsonNode[] prompts = ["And God said", new JsonArray([.. ids.Select(i => (JsonNode)i)]), "Let there be"];
        JsonObject Body(JsonNode prompt, bool stream) => new()
        {
            ["prompt"] = prompt, ["max_tokens"] = 5, ["temperature"] = 0, ["ignore_eos"] = true, ["echo"] = true, ["n"] = 2, ["stream"] = stream,
        };
        var alone = new List<JsonNode>();
        foreach (var prompt in prompts)
        {
            alone.Add(await ReadJsonAsync(await _http.PostAsJsonAsync("completions", Body(prompt.DeepClone(), stream: false)), HttpStatusCode.OK));
        }
        var batch = await ReadJsonAsync(await _http.PostAsJsonAsync("completions", Body(new JsonArray([.. prompts.Select(p => p.DeepClone())]), stream: false)), HttpStatusCode.OK);
        var choices = batch["choices"]!.AsArray();
        Assert.Equal(Enumerable.Range(0, 6), choices.Select(c => (int)c!["index"]!));
        for (var i = 0; i < 6; i++)
        {
            var expected = (string?)alone[i / 2]["choices"]![i % 2]!["text"];
            Assert.True((string?)choices[i]!["text"] == expected, $"choice {i} (prompt {i / 2}) wrote '{(string?)choices[i]!["text"]}'; alone it wrote '{expected}'");
        }
        Assert.Equal(alone.Sum(a => (int)a["usage"]!["prompt_tokens"]!), (int)batch["usage"]!["prompt_tokens"]!);
        Assert.Equal(30, (int)batch["usage"]!["completion_tokens"]!);

        var events = await StreamAsync("completions", Body(new JsonArray([.. prompts.Select(p => p.DeepClone())]), stream: true));
        var chunks = events[..^1].Select(e => Assert.Single(JsonNode.Parse(e)!["choices"]!.AsArray())!).ToList();
        for (var i = 0; i < 6; i++)
        {
            Assert.Equal((string?)choices[i]!["text"], string.Concat(chunks.Where(c => (int)c["index"]! == i).Select(c => (string?)c["text"])));
        }
    }

    private async Task<List<int>> GeneratedIdsAsync(SamplingParameters sampling)
    {
        var ids = new List<int>();
        using var call = _cluster.Client.Generate(new GenerateRequest { Text = "And God said", Sampling = sampling });
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            ids.AddRange(response.TokenIds);
        }
        return ids;
    }

    private async Task<(string Text, GenerateResponse Last)> GrpcChatAsync(uint maxTokens)
    {
        var request = new GenerateRequest { Messages = new ChatMessages(), Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = maxTokens } };
        request.Messages.Messages.Add(new Contracts.Api.ChatMessage { Role = "system", Content = "Be brief." });
        request.Messages.Messages.Add(new Contracts.Api.ChatMessage { Role = "user", Content = "hello there" });
        return await GrpcGenerateAsync(request);
    }

    private async Task<(string Text, GenerateResponse Last)> GrpcGenerateAsync(GenerateRequest request)
    {
        var text = new StringBuilder();
        GenerateResponse? last = null;
        using var call = _cluster.Client.Generate(request);
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            text.Append(response.Text);
            last = response;
        }
        return (text.ToString(), last!);
    }

    /// <summary>The <c>data:</c> payloads of a server-sent-event stream, in order.</summary>
    private async Task<List<string>> StreamAsync(string path, JsonObject body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<string>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add(line["data: ".Length..]);
            }
        }
        return events;
    }

    internal static async Task<JsonNode> ReadJsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"HTTP {(int)response.StatusCode}, expected {(int)expected}: {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>Asserts OpenAI's error shape and returns its "error" object.</summary>
    internal static async Task<JsonNode> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string? param, string? code)
    {
        var json = await ReadJsonAsync(response, status);
        var error = json["error"] ?? throw new Xunit.Sdk.XunitException($"No \"error\" object in {json.ToJsonString()}");
        Assert.False(string.IsNullOrEmpty((string?)error["message"]), $"an error without a message: {json.ToJsonString()}");
        Assert.True((string?)error["param"] == param, $"param {(string?)error["param"] ?? "null"}, expected {param ?? "null"}: {json.ToJsonString()}");
        if (code is not null)
        {
            Assert.Equal(code, (string?)error["code"]);
        }
        return error;
    }
}
