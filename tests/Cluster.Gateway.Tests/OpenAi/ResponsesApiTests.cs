using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cluster.Gateway.Tests.EndToEnd;
using OpenAI;
using OpenAI.Responses;
using static Cluster.Gateway.Tests.OpenAi.OpenAiApiTests;

#pragma warning disable OPENAI001 // the SDK marks its Responses client experimental

namespace Cluster.Gateway.Tests.OpenAi;

/// <summary>
/// OpenAI's Responses API (<c>/v1/responses</c>) on a real gateway over two stages, called by plain HTTP, the official
/// SDK's ResponsesClient and Microsoft.Extensions.AI: a response answers what a chat completion of the same messages
/// answers, streams as typed events whose deltas add up to it, continues a stored conversation with
/// previous_response_id (and forgets it when deleted), returns tool calls as function_call items and takes their
/// outputs back, and refuses what it does not do with a 400 naming the field.
/// </summary>
public sealed class ResponsesApiTests : IAsyncLifetime
{
    private ClusterUnderTest _cluster = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 2, model: Cluster.Testing.TinyModelOptions.Llama with { MaxPositionEmbeddings = 1024 }, metricsPort: true, addCheckpointFiles: directory =>
            File.WriteAllText(Path.Combine(directory, "chat_template.jinja"), OpenAiToolTests.Template));
        _http = new HttpClient { BaseAddress = new Uri(_cluster.MetricsAddress! + "/v1/"), Timeout = TimeSpan.FromMinutes(2) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _cluster.DisposeAsync();
    }

    private ResponsesClient Responses() =>
        new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _http.BaseAddress }).GetResponsesClient();

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    private async Task<JsonNode> ChatAsync(JsonArray messages, int maxTokens) => await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions",
        new JsonObject { ["model"] = ClusterUnderTest.ModelName, ["messages"] = messages, ["max_tokens"] = maxTokens, ["temperature"] = 0 }), HttpStatusCode.OK);

    private static string OutputText(JsonNode response) => string.Concat(response["output"]!.AsArray()
        .Where(item => (string?)item!["type"] == "message")
        .SelectMany(item => item!["content"]!.AsArray()).Select(part => (string?)part!["text"]));

    [Fact]
    public async Task AResponseAnswersWhatTheChatCompletionOfTheSameMessagesAnswers_OverHttpAndTheSdk()
    {
        var chat = await ChatAsync([Message("system", "Be brief."), Message("user", "hello there")], maxTokens: 10);
        var chatText = (string?)chat["choices"]![0]!["message"]!["content"];

        var response = await ReadJsonAsync(await _http.PostAsJsonAsync("responses", new JsonObject
        {
            ["model"] = ClusterUnderTest.ModelName, ["instructions"] = "Be brief.", ["input"] = "hello there", ["max_output_tokens"] = 10, ["temperature"] = 0,
        }), HttpStatusCode.OK);
        Assert.Equal("response", (string?)response["object"]);
        Assert.StartsWith("resp_", (string?)response["id"]);
        Assert.True(OutputText(response) == chatText, $"the response wrote '{OutputText(response)}'; the chat completion '{chatText}'");
        Assert.Equal((int)chat["usage"]!["prompt_tokens"]!, (int)response["usage"]!["input_tokens"]!);
        Assert.Equal((int)chat["usage"]!["completion_tokens"]!, (int)response["usage"]!["output_tokens"]!);
        var length = (string?)chat["choices"]![0]!["finish_reason"] == "length";
        Assert.True((string?)response["status"] == (length ? "incomplete" : "completed"), $"status {(string?)response["status"]} for a chat that finished {(string?)chat["choices"]![0]!["finish_reason"]}");
        if (length)
        {
            Assert.Equal("max_output_tokens", (string?)response["incomplete_details"]!["reason"]);
        }

        // include: ["message.output_text.logprobs"]: the text part carries each token's log-probability and alternatives.
        var scored = await ReadJsonAsync(await _http.PostAsJsonAsync("responses", new JsonObject
        {
            ["model"] = ClusterUnderTest.ModelName, ["instructions"] = "Be brief.", ["input"] = "hello there", ["max_output_tokens"] = 10, ["temperature"] = 0,
            ["include"] = new JsonArray("message.output_text.logprobs"), ["top_logprobs"] = 2,
        }), HttpStatusCode.OK);
        var logprobs = scored["output"]![0]!["content"]![0]!["logprobs"]!.AsArray();
        Assert.True(logprobs.Count == (int)scored["usage"]!["output_tokens"]! && logprobs.All(l => (double)l!["logprob"]! <= 0 && l["top_logprobs"]!.AsArray().Count == 2)
            && string.Concat(logprobs.Select(l => (string?)l!["token"])) == chatText, $"logprobs {logprobs.ToJsonString()} for '{chatText}'");

        var sdk = (await Responses().CreateResponseAsync(new CreateResponseOptions(ClusterUnderTest.ModelName, [ResponseItem.CreateUserMessageItem("hello there")])
        {
            Instructions = "Be brief.", MaxOutputTokenCount = 10, Temperature = 0,
        })).Value;
        Assert.Equal(chatText, sdk.GetOutputText());
        Assert.Equal((int)response["usage"]!["output_tokens"]!, sdk.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task AStreamedResponseSendsTheTypedEventsInOrder_AndItsDeltasAddUpToTheResponse()
    {
        var body = new JsonObject { ["model"] = ClusterUnderTest.ModelName, ["input"] = "tell me a story", ["max_output_tokens"] = 12, ["temperature"] = 0 };
        var whole = OutputText(await ReadJsonAsync(await _http.PostAsJsonAsync("responses", body), HttpStatusCode.OK));
        body["stream"] = true;
        var events = await EventsAsync(body);

        var types = events.Select(e => e.Type).ToList();
        Assert.True(types.Take(4).SequenceEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"])
            && types[^4..].SequenceEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"]),
            $"events: {string.Join(", ", types)}");
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => (int)e.Data["sequence_number"]!));
        Assert.All(events, e => Assert.Equal(e.Type, (string?)e.Data["type"]));
        var deltas = events.Where(e => e.Type == "response.output_text.delta").Select(e => (string?)e.Data["delta"]).ToList();
        Assert.True(deltas.Count > 3 && string.Concat(deltas) == whole, $"deltas [{string.Join(" | ", deltas)}]; the response unstreamed: '{whole}'");
        Assert.Equal(whole, (string?)events.Single(e => e.Type == "response.output_text.done").Data["text"]);
        Assert.Equal(whole, OutputText(events[^1].Data["response"]!));

        // The SDK reads the same stream into its typed updates.
        var pieces = new List<string>();
        StreamingResponseUpdate? last = null;
        await foreach (var update in await Responses().CreateResponseStreamingAsync(new CreateResponseOptions(ClusterUnderTest.ModelName, [ResponseItem.CreateUserMessageItem("tell me a story")]) { MaxOutputTokenCount = 12, Temperature = 0, StreamingEnabled = true }))
        {
            if (update is StreamingResponseOutputTextDeltaUpdate delta)
            {
                pieces.Add(delta.Delta);
            }
            last = update;
        }
        Assert.Equal(whole, string.Concat(pieces));
        var incomplete = Assert.IsType<StreamingResponseIncompleteUpdate>(last);
        Assert.Equal(12, incomplete.Response.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task PreviousResponseIdContinuesTheStoredConversation_UntilItIsDeleted()
    {
        var first = await ReadJsonAsync(await _http.PostAsJsonAsync("responses", new JsonObject
        {
            ["model"] = ClusterUnderTest.ModelName, ["input"] = "hello", ["max_output_tokens"] = 6, ["temperature"] = 0,
        }), HttpStatusCode.OK);
        var id = (string)first["id"]!;
        var second = await ReadJsonAsync(await _http.PostAsJsonAsync("responses", new JsonObject
        {
            ["model"] = ClusterUnderTest.ModelName, ["previous_response_id"] = id, ["input"] = "and then?", ["max_output_tokens"] = 6, ["temperature"] = 0,
        }), HttpStatusCode.OK);
        var chat = await ChatAsync([Message("user", "hello"), Message("assistant", OutputText(first)), Message("user", "and then?")], maxTokens: 6);
        Assert.True(OutputText(second) == (string?)chat["choices"]![0]!["message"]!["content"],
            $"the continued response wrote '{OutputText(second)}'; the chat completion of the whole conversation '{(string?)chat["choices"]![0]!["message"]!["content"]}'");
        Assert.Equal((int)chat["usage"]!["prompt_tokens"]!, (int)second["usage"]!["input_tokens"]!);
        Assert.Equal(id, (string?)second["previous_response_id"]);

        // The SDK continues the chain the same way.
        var sdk = (await Responses().CreateResponseAsync(new CreateResponseOptions(ClusterUnderTest.ModelName, [ResponseItem.CreateUserMessageItem("and then?")])
        {
            PreviousResponseId = id, MaxOutputTokenCount = 6, Temperature = 0,
        })).Value;
        Assert.Equal(OutputText(second), sdk.GetOutputText());

        var stored = await ReadJsonAsync(await _http.GetAsync($"responses/{id}"), HttpStatusCode.OK);
        Assert.True(stored["id"]!.ToJsonString() == first["id"]!.ToJsonString() && OutputText(stored) == OutputText(first), $"read back {stored.ToJsonString()}");
        var deleted = await ReadJsonAsync(await _http.DeleteAsync($"responses/{id}"), HttpStatusCode.OK);
        Assert.True((bool)deleted["deleted"]!);
        await AssertErrorAsync(await _http.GetAsync($"responses/{id}"), HttpStatusCode.NotFound, null, "not_found");
        await AssertErrorAsync(await _http.PostAsJsonAsync("responses", new JsonObject
        {
            ["model"] = ClusterUnderTest.ModelName, ["previous_response_id"] = id, ["input"] = "and then?",
        }), HttpStatusCode.NotFound, "previous_response_id", "not_found");

        // store: false keeps nothing.
        var unstored = await ReadJsonAsync(await _http.PostAsJsonAsync("responses", new JsonObject
        {
            ["model"] = ClusterUnderTest.ModelName, ["input"] = "hello", ["max_output_tokens"] = 2, ["store"] = false,
        }), HttpStatusCode.OK);
        Assert.False((bool)unstored["store"]!);
        await AssertErrorAsync(await _http.GetAsync($"responses/{(string)unstored["id"]!}"), HttpStatusCode.NotFound, null, "not_found");
    }

    [Fact]
    public async Task ToolCallsComeBackAsFunctionCallItems_AndTheirOutputsGoBackIn()
    {
        var tools = new JsonArray(new JsonObject
        {
            ["type"] = "function", ["name"] = "get_weather", ["description"] = "The weather in a unit", ["parameters"] = JsonNode.Parse(OpenAiToolTests.WeatherParameters),
        });
        var body = new JsonObject
        {
            ["model"] = ClusterUnderTest.ModelName, ["input"] = "weather?", ["max_output_tokens"] = 120, ["temperature"] = 1, ["seed"] = 3,
            ["tools"] = tools, ["tool_choice"] = new JsonObject { ["type"] = "function", ["name"] = "get_weather" },
        };
        var response = await ReadJsonAsync(await _http.PostAsJsonAsync("responses", body), HttpStatusCode.OK);
        var call = Assert.Single(response["output"]!.AsArray(), item => (string?)item!["type"] == "function_call")!;
        Assert.Equal("get_weather", (string?)call["name"]);
        Assert.Equal("completed", (string?)response["status"]);
        using (var arguments = JsonDocument.Parse((string)call["arguments"]!))
        {
            Assert.True(arguments.RootElement.GetProperty("unit").GetString() is "celsius" or "fahrenheit", call.ToJsonString());
        }

        // Streamed: the call's item opens once its name is written, its arguments stream as they come, and no message item.
        body["stream"] = true;
        var events = await EventsAsync(body);
        var done = events.Where(e => e.Type == "response.output_item.done").Select(e => e.Data["item"]!).ToList();
        Assert.True(done.Count == 1 && (string?)done[0]["type"] == "function_call" && (string?)done[0]["arguments"] == (string?)call["arguments"],
            $"items done: {string.Join(", ", done.Select(d => d.ToJsonString()))}; unstreamed call {call.ToJsonString()}");
        var added = events.Single(e => e.Type == "response.output_item.added").Data["item"]!;
        Assert.True((string?)added["type"] == "function_call" && (string?)added["call_id"] == (string?)done[0]["call_id"] && (string?)added["name"] == "get_weather",
            $"opened {added.ToJsonString()}, finished {done[0].ToJsonString()}");
        var pieces = events.Where(e => e.Type == "response.function_call_arguments.delta").Select(e => (string?)e.Data["delta"]).ToList();
        Assert.True(pieces.Count > 3 && string.Concat(pieces) == (string?)call["arguments"], $"argument pieces [{string.Join(" | ", pieces)}]");

        // The call and its output go back as input items; the template renders both into the prompt.
        var followUp = await ReadJsonAsync(await _http.PostAsJsonAsync("responses", new JsonObject
        {
            ["model"] = ClusterUnderTest.ModelName, ["max_output_tokens"] = 3, ["tools"] = tools.DeepClone(), ["tool_choice"] = "none", ["store"] = false,
            ["input"] = new JsonArray(
                Message("user", "weather?"),
                new JsonObject { ["type"] = "function_call", ["call_id"] = (string?)call["call_id"], ["name"] = "get_weather", ["arguments"] = (string?)call["arguments"] },
                new JsonObject { ["type"] = "function_call_output", ["call_id"] = (string?)call["call_id"], ["output"] = "{\"temperature\": 21}" }),
        }), HttpStatusCode.OK);
        Assert.True((int)followUp["usage"]!["input_tokens"]! > (int)response["usage"]!["input_tokens"]! + 10,
            $"the call and its output added {(int)followUp["usage"]!["input_tokens"]! - (int)response["usage"]!["input_tokens"]!} input tokens");
    }

    [Fact]
    public async Task MicrosoftExtensionsAIRunsAnAgentLoopOverResponses_ContinuingTheStoredConversation()
    {
        // Microsoft.Extensions.AI over the Responses API keeps the conversation on the server: after the call it sends
        // only the function's result with previous_response_id.
        var invoked = 0;
        var weather = Microsoft.Extensions.AI.AIFunctionFactory.Create((TemperatureUnit unit, bool tomorrow) => { invoked++; return "21 degrees"; }, "get_weather", "The weather in a unit",
            new JsonSerializerOptions(Microsoft.Extensions.AI.AIJsonUtilities.DefaultOptions) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } });
        using var client = new Microsoft.Extensions.AI.FunctionInvokingChatClient(Microsoft.Extensions.AI.OpenAIClientExtensions.AsIChatClient(Responses()));
        var options = new Microsoft.Extensions.AI.ChatOptions
        {
            ModelId = ClusterUnderTest.ModelName, MaxOutputTokens = 200, Temperature = 0, Tools = [weather], ToolMode = Microsoft.Extensions.AI.ChatToolMode.RequireSpecific("get_weather"),
        };
        var response = await client.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(Microsoft.Extensions.AI.ChatRole.User, "weather?")], options);

        var roles = response.Messages.Select(m => m.Role.Value).ToList();
        Assert.True(invoked == 1 && roles.SequenceEqual(["assistant", "tool", "assistant"]),
            $"invoked {invoked} times; the loop's messages: {string.Join(" | ", response.Messages.Select(m => $"{m.Role}: {string.Join(", ", m.Contents.Select(c => c.ToString()))}"))}");
        Assert.StartsWith("resp_", response.ConversationId);
    }

    /// <summary>An enum, so the schema forces the value and the test model's random weights finish the call.</summary>
    private enum TemperatureUnit
    {
        Celsius,
        Fahrenheit,
    }

    [Theory]
    [InlineData("""{"max_output_tokens": 5}""", "input", "input is required")]
    [InlineData("""{"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]}""", "input", "this server's models read text only")]
    [InlineData("""{"input": [{"type": "item_reference", "id": "x"}]}""", "input", "input[0].type \"item_reference\" is not supported")]
    [InlineData("""{"input": "hi", "background": true}""", "background", "background is not supported")]
    [InlineData("""{"input": "hi", "conversation": "conv_1"}""", "conversation", "conversation is not supported")]
    [InlineData("""{"input": "hi", "truncation": "auto"}""", "truncation", "truncation \"auto\" is not supported")]
    [InlineData("""{"input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}}""", "text", "text.format.schema is required")]
    [InlineData("""{"input": "hi", "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "array", "uniqueItems": true}}}}""", "text", "text.format.schema at /uniqueItems")]
    [InlineData("""{"input": "hi", "max_output_tokens": 0}""", "max_output_tokens", "max_output_tokens")]
    [InlineData("""{"input": "hi", "tools": [{"type": "web_search"}]}""", "tools", "tools[0].type must be \"function\"")]
    [InlineData("""{"input": "hi", "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "function", "name": "g"}}""", "tool_choice", "tool_choice.name \"g\" is none of")]
    public async Task WhatItDoesNotDoIsRefusedNamingTheField(string json, string param, string message)
    {
        var body = JsonNode.Parse(json)!.AsObject();
        body["model"] = ClusterUnderTest.ModelName;
        var error = await AssertErrorAsync(await _http.PostAsJsonAsync("responses", body), HttpStatusCode.BadRequest, param, null);
        Assert.Contains(message, (string?)error["message"]);
    }

    /// <summary>The typed server-sent events of a streamed response, in order.</summary>
    private async Task<List<(string Type, JsonNode Data)>> EventsAsync(JsonObject body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "responses") { Content = JsonContent.Create(body) };
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = new List<(string, JsonNode)>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? type = null;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add((type ?? throw new Xunit.Sdk.XunitException($"data without an event line: {line}"), JsonNode.Parse(line["data: ".Length..])!));
                type = null;
            }
        }
        return events;
    }
}
