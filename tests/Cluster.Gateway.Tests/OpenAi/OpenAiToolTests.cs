using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cluster.Gateway.Tests.EndToEnd;
using OpenAI;
using OpenAI.Chat;
using static Cluster.Gateway.Tests.OpenAi.OpenAiApiTests;

namespace Cluster.Gateway.Tests.OpenAi;

/// <summary>
/// Function calling through the OpenAI door, as the official SDK and Microsoft.Extensions.AI use it: a required or
/// named tool is called with arguments its schema allows (finish_reason tool_calls, content null), streamed as one
/// tool-call delta, and a conversation carrying the call and its result goes back through the chat template.
/// </summary>
public sealed class OpenAiToolTests : IAsyncLifetime
{
    /// <summary>ChatML-like, with Qwen2.5's tool markup: tools in a system line, calls in &lt;tool_call&gt; blocks.</summary>
    internal const string Template =
        "{%- if tools %}{{ 'system: tools: ' }}{% for tool in tools %}{{ tool | tojson }}{% endfor %}{{ '\\n' }}{% endif %}"
        + "{%- for message in messages %}"
        + "{%- if message.role == 'assistant' and message.tool_calls %}{{ 'assistant:' }}{% for call in message.tool_calls %}"
        + "{{ '<tool_call>{\"name\": \"' + call.function.name + '\", \"arguments\": ' + (call.function.arguments | tojson) + '}</tool_call>' }}{% endfor %}{{ '\\n' }}"
        + "{%- elif message.role == 'tool' %}{{ 'tool: ' + message.content + '\\n' }}"
        + "{%- else %}{{ message.role + ': ' + message.content + '\\n' }}{% endif %}"
        + "{%- endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

    /// <summary>An enum and a boolean: all but whitespace is forced, so the test model's random weights finish the call.</summary>
    internal const string WeatherParameters = """
        {"type": "object", "properties": {"unit": {"enum": ["celsius", "fahrenheit"]}, "tomorrow": {"type": "boolean"}}, "required": ["unit", "tomorrow"], "additionalProperties": false}
        """;

    private ClusterUnderTest _cluster = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        // Room for the tools' JSON in the prompt (the test tokenizer's small vocabulary spends many tokens on it).
        _cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 2, model: Cluster.Testing.TinyModelOptions.Llama with { MaxPositionEmbeddings = 1024 }, metricsPort: true, addCheckpointFiles: directory =>
            File.WriteAllText(Path.Combine(directory, "chat_template.jinja"), Template));
        _http = new HttpClient { BaseAddress = new Uri(_cluster.MetricsAddress! + "/v1/"), Timeout = TimeSpan.FromMinutes(2) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _cluster.DisposeAsync();
    }

    private ChatClient Chat() => new(ClusterUnderTest.ModelName, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _http.BaseAddress });

    private static JsonArray Tools() => new(
        new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_weather", ["description"] = "The weather in a unit", ["parameters"] = JsonNode.Parse(WeatherParameters) } },
        new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_time", ["description"] = "The time" } });

    [Fact]
    public async Task ANamedToolIsCalledWithArgumentsItsSchemaAllows_OverHttpTheSdkAndItsStream()
    {
        var body = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "weather?" }),
            ["max_tokens"] = 120, ["temperature"] = 0, ["tools"] = Tools(),
            ["tool_choice"] = new JsonObject { ["type"] = "function", ["function"] = new JsonObject { ["name"] = "get_weather" } },
        };
        var http = await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions", body), HttpStatusCode.OK);
        var choice = http["choices"]![0]!;
        Assert.True((string?)choice["finish_reason"] == "tool_calls", $"finished {(string?)choice["finish_reason"]}: {choice.ToJsonString()}");
        Assert.Null(choice["message"]!["content"]);
        var call = Assert.Single(choice["message"]!["tool_calls"]!.AsArray())!;
        Assert.StartsWith("call_", (string?)call["id"]);
        Assert.Equal("function", (string?)call["type"]);
        Assert.Equal("get_weather", (string?)call["function"]!["name"]);
        var arguments = (string)call["function"]!["arguments"]!;
        using (var parsed = JsonDocument.Parse(arguments))
        {
            Assert.True(parsed.RootElement.GetProperty("unit").GetString() is "celsius" or "fahrenheit", arguments);
            Assert.True(parsed.RootElement.GetProperty("tomorrow").ValueKind is JsonValueKind.True or JsonValueKind.False, arguments);
        }

        // Cut short by max_tokens: the call as far as it was written, finish_reason length, no text.
        body["max_tokens"] = (int)http["usage"]!["completion_tokens"]! - 4;
        var cut = (await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions", body), HttpStatusCode.OK))["choices"]![0]!;
        var partial = (string?)Assert.Single(cut["message"]!["tool_calls"]!.AsArray())!["function"]!["arguments"];
        Assert.True((string?)cut["finish_reason"] == "length" && cut["message"]!["content"] is null && partial is { Length: > 0 } && arguments.StartsWith(partial, StringComparison.Ordinal),
            $"cut short: {cut.ToJsonString()}; the whole arguments: {arguments}");

        var options = new ChatCompletionOptions { MaxOutputTokenCount = 120, Temperature = 0, ToolChoice = ChatToolChoice.CreateFunctionChoice("get_weather") };
        options.Tools.Add(ChatTool.CreateFunctionTool("get_weather", "The weather in a unit", BinaryData.FromString(WeatherParameters)));
        options.Tools.Add(ChatTool.CreateFunctionTool("get_time", "The time"));
        var sdk = (await Chat().CompleteChatAsync([ChatMessage.CreateUserMessage("weather?")], options)).Value;
        Assert.Equal(ChatFinishReason.ToolCalls, sdk.FinishReason);
        Assert.Equal("get_weather", Assert.Single(sdk.ToolCalls).FunctionName);
        Assert.Equal(arguments, sdk.ToolCalls[0].FunctionArguments.ToString());

        // Streamed as the peers stream a call: its id and name first, then its arguments' text as it is written.
        var name = "";
        var ids = new List<string>();
        var pieces = new List<string>();
        ChatFinishReason? finish = null;
        await foreach (var update in Chat().CompleteChatStreamingAsync([ChatMessage.CreateUserMessage("weather?")], options))
        {
            foreach (var part in update.ToolCallUpdates)
            {
                Assert.Equal(0, part.Index);
                name += part.FunctionName ?? "";
                if (part.ToolCallId is { } id)
                {
                    ids.Add(id);
                }
                if (part.FunctionArgumentsUpdate?.ToString() is { Length: > 0 } piece)
                {
                    pieces.Add(piece);
                }
            }
            Assert.DoesNotContain(update.ContentUpdate, c => c.Text.Length > 0); // a call's markup is never streamed as text
            finish ??= update.FinishReason;
        }
        Assert.Equal(("get_weather", arguments, ChatFinishReason.ToolCalls), (name, string.Concat(pieces), finish));
        Assert.True(pieces.Count > 3 && ids.Count == 1 && ids[0].StartsWith("call_", StringComparison.Ordinal),
            $"{pieces.Count} argument pieces [{string.Join(" | ", pieces)}], ids [{string.Join(", ", ids)}]: the call should stream once opened");
    }

    [Fact]
    public async Task RequiredCallsOneOfTheTools_AndTheCallAndItsResultGoBackIntoTheConversation()
    {
        var body = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "weather?" }),
            ["max_tokens"] = 120, ["temperature"] = 1, ["seed"] = 3, ["tools"] = Tools(), ["tool_choice"] = "required",
        };
        var http = await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions", body), HttpStatusCode.OK);
        var call = Assert.Single(http["choices"]![0]!["message"]!["tool_calls"]!.AsArray())!;
        Assert.True((string?)call["function"]!["name"] is "get_weather" or "get_time", call.ToJsonString());

        // The answer's call and the tool's result, sent back as OpenAI clients do: the template renders both.
        var followUp = new JsonObject
        {
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "user", ["content"] = "weather?" },
                new JsonObject { ["role"] = "assistant", ["content"] = null, ["tool_calls"] = new JsonArray(call.DeepClone()) },
                new JsonObject { ["role"] = "tool", ["tool_call_id"] = (string?)call["id"], ["content"] = "{\"temperature\": 21}" }),
            ["max_tokens"] = 3, ["temperature"] = 0, ["ignore_eos"] = true, ["tools"] = Tools(), ["tool_choice"] = "none",
        };
        var answered = await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions", followUp), HttpStatusCode.OK);
        Assert.Equal("length", (string?)answered["choices"]![0]!["finish_reason"]);
        var withoutResult = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "weather?" }),
            ["max_tokens"] = 3, ["temperature"] = 0, ["ignore_eos"] = true, ["tools"] = Tools(), ["tool_choice"] = "none",
        };
        var shorter = await ReadJsonAsync(await _http.PostAsJsonAsync("chat/completions", withoutResult), HttpStatusCode.OK);
        var (longPrompt, shortPrompt) = ((int)answered["usage"]!["prompt_tokens"]!, (int)shorter["usage"]!["prompt_tokens"]!);
        Assert.True(longPrompt > shortPrompt + 10, $"the call and its result added {longPrompt - shortPrompt} prompt tokens");
    }

    [Fact]
    public async Task WithToolChoiceAutoAPlainAnswerStreamsAsItComes_AndTheStreamIsTheWholeAnswer()
    {
        // The test model's random weights never write a call: its answer is text, which streams in pieces while it
        // cannot be the start of one, and adds up to the answer given whole.
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 24, Temperature = 0 };
        options.Tools.Add(ChatTool.CreateFunctionTool("get_weather", "The weather in a unit", BinaryData.FromString(WeatherParameters)));
        var whole = (await Chat().CompleteChatAsync([ChatMessage.CreateUserMessage("tell me a story")], options)).Value;
        Assert.Empty(whole.ToolCalls);
        var text = whole.Content[0].Text;
        Assert.False(text.TrimStart().StartsWith('{'), $"the answer begins like a call object, which is held back: {text}");

        var pieces = new List<string>();
        await foreach (var update in Chat().CompleteChatStreamingAsync([ChatMessage.CreateUserMessage("tell me a story")], options))
        {
            pieces.AddRange(update.ContentUpdate.Select(part => part.Text).Where(piece => piece.Length > 0));
        }
        Assert.Equal(text, string.Concat(pieces));
        Assert.True(pieces.Count > 3, $"{pieces.Count} pieces: the answer was held back instead of streamed: {string.Join(" | ", pieces)}");
    }

    [Fact]
    public async Task MicrosoftExtensionsAIInvokesTheFunctionTheModelCalled_AndSendsItsResultBack()
    {
        // An agent's loop as .NET developers write it: the function is a C# method, Microsoft.Extensions.AI describes its
        // parameters, the required call comes back, the client invokes it and sends the result, and the model answers.
        var invoked = new List<(string Unit, bool Tomorrow)>();
        var weather = Microsoft.Extensions.AI.AIFunctionFactory.Create(
            (TemperatureUnit unit, bool tomorrow) => { invoked.Add((unit.ToString(), tomorrow)); return "21 degrees"; }, "get_weather", "The weather in a unit",
            new JsonSerializerOptions(Microsoft.Extensions.AI.AIJsonUtilities.DefaultOptions) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } });
        using var client = new Microsoft.Extensions.AI.FunctionInvokingChatClient(Microsoft.Extensions.AI.OpenAIClientExtensions.AsIChatClient(Chat()));
        var options = new Microsoft.Extensions.AI.ChatOptions
        {
            MaxOutputTokens = 200, Temperature = 0, Tools = [weather], ToolMode = Microsoft.Extensions.AI.ChatToolMode.RequireSpecific("get_weather"),
        };
        var response = await client.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(Microsoft.Extensions.AI.ChatRole.User, "weather?")], options);

        Assert.True(invoked.Count == 1, $"invoked {invoked.Count} times; the exchange: {string.Join(" | ", response.Messages.Select(m => $"{m.Role}: {string.Join(", ", m.Contents.Select(c => c.ToString()))}"))} ({response.FinishReason})");
        var call = invoked[0];
        Assert.True(call.Unit is "Celsius" or "Fahrenheit", call.Unit);
        var messages = response.Messages.Select(m => m.Role.Value).ToList();
        Assert.True(messages.SequenceEqual(["assistant", "tool", "assistant"]), $"the loop's messages: {string.Join(", ", messages)}");
        var result = Assert.Single(response.Messages[1].Contents.OfType<Microsoft.Extensions.AI.FunctionResultContent>());
        Assert.Equal("21 degrees", result.Result?.ToString());
    }

    private enum TemperatureUnit
    {
        Celsius,
        Fahrenheit,
    }

    [Theory]
    [InlineData("""{"tool_choice": "required"}""", "tool_choice", "tool_choice needs tools")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "bad name"}}]}""", "tools", "tools[0].name must be 1-64 characters")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}}""", "tool_choice", "\"g\" is none of")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"n": {"type": "array", "uniqueItems": true}}}}}], "tool_choice": "required"}""", "tools", "tools[0].function.parameters at /properties/n/uniqueItems: the keyword \"uniqueItems\" is not supported")]
    [InlineData("""{"tools": [{"type": "retrieval"}]}""", "tools", "tools[0].type must be \"function\"")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required", "response_format": {"type": "json_object"}}""", "tool_choice", "cannot be combined with")]
    [InlineData("""{"functions": [{"name": "f"}]}""", "functions", "send tools")]
    public async Task WhatCannotBeCalledIsRefusedNamingTheField(string extra, string param, string message)
    {
        var body = JsonNode.Parse(extra)!.AsObject();
        body["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" });
        var error = await AssertErrorAsync(await _http.PostAsJsonAsync("chat/completions", body), HttpStatusCode.BadRequest, param, null);
        Assert.Contains(message, (string?)error["message"]);
    }
}
