using System.Text.Json;
using Cluster.Contracts.Api;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// A Responses API body (<c>POST /v1/responses</c>, OpenAI's newer API, which vLLM also serves): its input items as
/// chat messages, its settings as the shared path's, and what the response object echoes back. It runs as a chat
/// completion with one choice (<see cref="ToCall"/>), after the conversation of <see cref="PreviousResponseId"/>.
/// Only shapes are checked here; ranges and the model's limits are the validator's, as for chat.
/// </summary>
/// <param name="Input">The new turns: the input's messages, function calls (an assistant turn's tool calls) and their outputs (tool turns).</param>
/// <param name="Store">Keep the response for <c>previous_response_id</c> and <c>GET /v1/responses/{id}</c> (OpenAI's default: true).</param>
internal sealed record ResponsesRequest(
    JsonElement Body,
    string Model,
    IReadOnlyList<ChatMessage> Input,
    string? Instructions,
    string? PreviousResponseId,
    bool Store,
    bool Stream,
    SamplingParameters Sampling,
    ChatMessages Tools,
    bool Logprobs,
    uint TopLogprobs,
    bool OneToolCall)
{
    /// <summary>The <c>include</c> entry that puts log-probabilities on the output text.</summary>
    public const string IncludeLogprobs = "message.output_text.logprobs";

    public static ResponsesRequest Parse(JsonElement body)
    {
        var json = OpenAiJson.Body(body);
        RefuseUnsupported(json);
        var sampling = OpenAiRequest.Sampling(json, "max_output_tokens");
        ReadTextFormat(json, sampling);
        var tools = new ChatMessages();
        tools.Tools.AddRange(OpenAiTools.Tools(json, flat: true));
        OpenAiTools.ReadToolChoice(json, tools, flat: true);
        var include = json.Element("include") is { ValueKind: JsonValueKind.Array } list ? list.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString() : null).ToList() : [];
        return new ResponsesRequest(
            body,
            json.String("model") ?? "",
            InputTurns(json),
            json.String("instructions"),
            json.String("previous_response_id"),
            json.Bool("store") ?? true,
            json.Bool("stream") ?? false,
            sampling,
            tools,
            include.Contains(IncludeLogprobs),
            (uint)(json.Integer("top_logprobs", 0, uint.MaxValue) ?? 0),
            json.Bool("parallel_tool_calls") == false);
    }

    /// <summary>
    /// The request that answers this one: the instructions as a system turn, then <paramref name="earlier"/> (the
    /// previous response's conversation), then the input; one choice, streamed or not.
    /// </summary>
    public OpenAiRequest ToCall(IEnumerable<ChatMessage> earlier)
    {
        var messages = Tools.Clone();
        if (!string.IsNullOrEmpty(Instructions))
        {
            messages.Messages.Add(new ChatMessage { Role = "system", Content = Instructions });
        }
        messages.Messages.AddRange(earlier);
        messages.Messages.AddRange(Input);
        var request = new GenerateRequest { Model = Model, Messages = messages, Sampling = Sampling.Clone(), Logprobs = Logprobs, TopLogprobs = Logprobs ? TopLogprobs : 0 };
        return new OpenAiRequest(OpenAiEndpoint.Responses, request, Stream, IncludeUsage: false, "max_output_tokens", OneToolCall: OneToolCall);
    }

    /// <summary>
    /// <c>input</c>: a string (one user turn) or a list of items: messages (role user, system, developer, which chat
    /// templates know as system, or assistant; content a string or text parts), <c>function_call</c> items (joined to
    /// the assistant turn before them) and <c>function_call_output</c> items (tool turns). Reasoning items are skipped.
    /// </summary>
    private static List<ChatMessage> InputTurns(OpenAiJson json)
    {
        var input = json.Element("input") ?? throw OpenAiError.BadRequest("input is required", "input");
        if (input.ValueKind == JsonValueKind.String)
        {
            return [new ChatMessage { Role = "user", Content = input.GetString()! }];
        }
        if (input.ValueKind != JsonValueKind.Array)
        {
            throw OpenAiJson.WrongType("input", "a string or an array of input items", input);
        }
        var turns = new List<ChatMessage>();
        var i = 0;
        foreach (var item in input.EnumerateArray())
        {
            var field = $"input[{i++}]";
            var fields = item.ValueKind == JsonValueKind.Object ? new OpenAiJson(item) : throw OpenAiJson.WrongType(field, "an input item object", item);
            switch (fields.String("type") ?? (fields.Has("role") ? "message" : null))
            {
                case "message":
                    var role = fields.String("role");
                    if (role is not ("user" or "system" or "developer" or "assistant"))
                    {
                        throw OpenAiError.BadRequest($"{field}.role must be user, system, developer or assistant; got {(role is null ? "none" : $"\"{role}\"")}", "input");
                    }
                    role = role == "developer" ? "system" : role;
                    turns.Add(new ChatMessage { Role = role, Content = fields.Text("content", field, "input", "input_text", "output_text", "text") });
                    break;
                case "function_call":
                    if (turns.Count == 0 || turns[^1].Role != "assistant")
                    {
                        turns.Add(new ChatMessage { Role = "assistant" });
                    }
                    turns[^1].ToolCalls.Add(new ToolCall
                    {
                        Id = fields.String("call_id") ?? throw OpenAiError.BadRequest($"{field}.call_id is required", "input"),
                        Name = fields.String("name") ?? throw OpenAiError.BadRequest($"{field}.name is required", "input"),
                        ArgumentsJson = fields.String("arguments") ?? "{}",
                    });
                    break;
                case "function_call_output":
                    turns.Add(new ChatMessage
                    {
                        Role = "tool",
                        ToolCallId = fields.String("call_id") ?? throw OpenAiError.BadRequest($"{field}.call_id is required", "input"),
                        Content = fields.Text("output", field, "input", "input_text", "output_text", "text"),
                    });
                    break;
                case "reasoning":
                    break; // a reasoning model's summary: these models have none to continue from
                case var type:
                    throw OpenAiError.BadRequest($"{field}.type {(type is null ? "is required" : $"\"{type}\" is not supported")} (a message, function_call or function_call_output)", "input");
            }
        }
        return turns.Count > 0 ? turns : throw OpenAiError.BadRequest("input has no message", "input");
    }

    /// <summary>
    /// <c>text.format</c>: <c>{"type": "text"}</c>, <c>{"type": "json_object"}</c>, or <c>{"type": "json_schema", "name",
    /// "schema", "strict"}</c> (the Responses API's flat form of chat's response_format).
    /// </summary>
    private static void ReadTextFormat(OpenAiJson json, SamplingParameters sampling)
    {
        if (json.Element("text") is not { } text)
        {
            return;
        }
        var format = text.ValueKind == JsonValueKind.Object ? new OpenAiJson(text).Element("format") : throw OpenAiJson.WrongType("text", "an object", text);
        if (format is not { } given)
        {
            return;
        }
        var body = given.ValueKind == JsonValueKind.Object ? new OpenAiJson(given) : throw OpenAiJson.WrongType("text.format", "an object", given);
        var type = body.String("type");
        if (type is null or "text")
        {
            return;
        }
        if (sampling.ResponseFormat != ResponseFormat.Text)
        {
            throw OpenAiError.BadRequest("text.format cannot be combined with vLLM's guided decoding fields: give one output format", "text");
        }
        switch (type)
        {
            case "json_object":
                sampling.ResponseFormat = ResponseFormat.JsonObject;
                return;
            case "json_schema":
                sampling.ResponseFormat = ResponseFormat.JsonSchema;
                sampling.JsonSchema = body.Element("schema") is { ValueKind: JsonValueKind.Object or JsonValueKind.True } schema
                    ? schema.GetRawText()
                    : throw OpenAiError.BadRequest("text.format.schema is required with type \"json_schema\": the JSON Schema object the output must satisfy", "text");
                return;
            default:
                throw OpenAiError.BadRequest($"text.format.type \"{type}\" is not supported (\"text\", \"json_object\" or \"json_schema\")", "text");
        }
    }

    /// <summary>What the Responses API offers and this server does not do: refused naming the field, never ignored.</summary>
    private static void RefuseUnsupported(OpenAiJson json)
    {
        if (json.Bool("background") == true)
        {
            throw OpenAiError.BadRequest("background is not supported: a response runs while its request is open (stream it for progress)", "background");
        }
        if (json.Has("conversation"))
        {
            throw OpenAiError.BadRequest("conversation is not supported: continue a conversation with previous_response_id, or send it whole in input", "conversation");
        }
        if (json.Has("prompt"))
        {
            throw OpenAiError.BadRequest("prompt (a stored prompt template) is not supported: send the text in input and instructions", "prompt");
        }
        if (json.String("truncation") is { } truncation && truncation != "disabled")
        {
            throw OpenAiError.BadRequest($"truncation \"{truncation}\" is not supported: this server never drops turns (\"disabled\": an input past the context is a 400)", "truncation");
        }
    }
}
