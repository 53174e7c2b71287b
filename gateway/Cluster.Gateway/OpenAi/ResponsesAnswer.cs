using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Cluster.Contracts.Api;
using Cluster.Gateway.Requests;
using Cluster.Tokenizers;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// The Responses API's answer to one request, built from the shared path's response messages: the response object
/// (<see cref="ToJson"/>) with a message item (one output_text part) and a function_call item per tool call, or, when
/// streaming, its typed server-sent events (<c>response.created</c>, <c>response.output_text.delta</c>, ...,
/// <c>response.completed</c> or <c>response.incomplete</c> at max_output_tokens). Tool calls are held back as on
/// chat: with tool_choice auto the text up to where a call could begin streams as it comes.
/// </summary>
internal sealed class ResponsesAnswer(ResponsesRequest request, OpenAiRequest call, string model, CheckpointTokenizer tokenizer)
{
    private readonly string _messageId = "msg_" + Guid.NewGuid().ToString("N");
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    private readonly StringBuilder _text = new();
    private readonly TokenLogprobsJson _logprobs = new(OpenAiEndpoint.ChatCompletions, tokenizer);
    private FinishReason _finish;
    private Usage? _usage;
    private int _sequence;
    private bool _messageOpened;
    private int _streamed; // characters of _text sent as deltas, when no tools were offered

    /// <summary>When the request offered tools: what of the answer is text and what calls.</summary>
    private readonly ToolAnswer? _tools = call.MayCallTools ? new ToolAnswer(call.ModelDecidesCalls, call.OneToolCall) : null;

    private IReadOnlyList<ToolCall> Calls => _tools?.Calls ?? [];

    public string Id { get; } = "resp_" + Guid.NewGuid().ToString("N");

    /// <summary>Records one message; when streaming, writes the events it makes (the first one's after the opening events).</summary>
    public async Task AddAsync(HttpContext http, GenerateResponse message, CancellationToken cancellation)
    {
        var offset = _text.Length;
        var (began, piece) = Record(message);
        if (!request.Stream)
        {
            return;
        }
        await StartStreamAsync(http, cancellation);
        var finished = message.FinishReason != FinishReason.Unspecified;
        if (_tools?.Required is { Name: { } name })
        {
            await StreamRequiredCallAsync(http, name, began, piece, cancellation);
        }
        else
        {
            await StreamTextAsync(http, message, offset, finished, cancellation);
        }
        if (finished)
        {
            await FinishStreamAsync(http, cancellation);
        }
    }

    /// <summary>Keeps the message's text, log-probabilities and, on the last, the finish and the calls; returns what a required call's stream read.</summary>
    private (bool Began, string Piece) Record(GenerateResponse message)
    {
        _logprobs.Add(message, _text.Length);
        _text.Append(message.Text);
        var read = _tools?.Read(_text.ToString(), message) ?? (false, "");
        if (message.FinishReason != FinishReason.Unspecified)
        {
            _finish = message.FinishReason;
            _usage = message.Usage ?? new Usage();
        }
        return read;
    }

    private async Task StartStreamAsync(HttpContext http, CancellationToken cancellation)
    {
        if (http.Response.HasStarted)
        {
            return;
        }
        OpenAiEndpoints.BeginEventStream(http);
        await EventAsync(http, "response.created", new JsonObject { ["response"] = ToJson("in_progress") }, cancellation);
        await EventAsync(http, "response.in_progress", new JsonObject { ["response"] = ToJson("in_progress") }, cancellation);
    }

    /// <summary>A required call's item opens once its name is written; its arguments follow as they are written.</summary>
    private async Task StreamRequiredCallAsync(HttpContext http, string name, bool began, string piece, CancellationToken cancellation)
    {
        var item = FunctionCallItem(new ToolCall { Id = _tools!.Required!.Id, Name = name }, 0, "", "in_progress");
        if (began)
        {
            await EventAsync(http, "response.output_item.added", new JsonObject { ["output_index"] = 0, ["item"] = item }, cancellation);
        }
        if (piece.Length > 0)
        {
            await EventAsync(http, "response.function_call_arguments.delta", new JsonObject { ["item_id"] = item["id"]!.GetValue<string>(), ["output_index"] = 0, ["delta"] = piece }, cancellation);
        }
    }

    /// <summary>The text that may go now: all of it, or with tools offered what is surely not a call (auto) or nothing until the end.</summary>
    private async Task StreamTextAsync(HttpContext http, GenerateResponse message, int offset, bool finished, CancellationToken cancellation)
    {
        var text = _text.ToString();
        var delta = _tools is null ? text[_streamed..]
            : finished ? _tools.Rest(text)
            : _tools.TakeSurelyText(text);
        if (_tools is null)
        {
            _streamed = text.Length;
        }
        if (delta.Length == 0)
        {
            return;
        }
        await OpenMessageAsync(http, cancellation);
        // Per-message log-probabilities when the text streams as it comes; held-back text gets them at the end.
        var logprobs = call.Logprobs && !call.MayCallTools ? new TokenLogprobsJson(OpenAiEndpoint.ChatCompletions, tokenizer).Add(message, offset).ToJson()["content"]!.DeepClone() : new JsonArray();
        await EventAsync(http, "response.output_text.delta", new JsonObject
        {
            ["item_id"] = _messageId, ["output_index"] = 0, ["content_index"] = 0, ["delta"] = delta, ["logprobs"] = logprobs,
        }, cancellation);
    }

    /// <summary>The assistant's turn as the conversation goes on with it: the answer's text and its tool calls.</summary>
    public ChatMessage AssistantTurn()
    {
        var turn = new ChatMessage { Role = "assistant", Content = AnswerText() };
        turn.ToolCalls.AddRange(Calls);
        return turn;
    }

    /// <summary>The response object: in progress (no output yet) while streaming begins, completed or incomplete at the end.</summary>
    public JsonObject ToJson(string? status = null)
    {
        var json = new OpenAiJson(request.Body);
        status ??= _finish == FinishReason.Length ? "incomplete" : "completed";
        return new JsonObject
        {
            ["id"] = Id,
            ["object"] = "response",
            ["created_at"] = _created,
            ["status"] = status,
            ["error"] = null,
            ["incomplete_details"] = status == "incomplete" ? new JsonObject { ["reason"] = "max_output_tokens" } : null,
            ["instructions"] = request.Instructions,
            ["max_output_tokens"] = json.Element("max_output_tokens") is { } max ? JsonNode.Parse(max.GetRawText()) : null,
            ["model"] = model,
            ["output"] = status == "in_progress" ? new JsonArray() : Output(),
            ["parallel_tool_calls"] = !request.OneToolCall,
            ["previous_response_id"] = request.PreviousResponseId,
            ["reasoning"] = new JsonObject { ["effort"] = null, ["summary"] = null },
            ["store"] = request.Store,
            ["temperature"] = json.Element("temperature") is { } temperature ? JsonNode.Parse(temperature.GetRawText()) : 1.0,
            ["text"] = json.Element("text") is { } text ? JsonNode.Parse(text.GetRawText()) : new JsonObject { ["format"] = new JsonObject { ["type"] = "text" } },
            ["tool_choice"] = json.Element("tool_choice") is { } choice ? JsonNode.Parse(choice.GetRawText()) : "auto",
            ["tools"] = json.Element("tools") is { } tools ? JsonNode.Parse(tools.GetRawText()) : new JsonArray(),
            ["top_p"] = json.Element("top_p") is { } topP ? JsonNode.Parse(topP.GetRawText()) : 1.0,
            ["truncation"] = "disabled",
            ["usage"] = status == "in_progress" ? null : UsageJson(),
            ["user"] = null,
            ["metadata"] = json.Element("metadata") is { ValueKind: JsonValueKind.Object } metadata ? JsonNode.Parse(metadata.GetRawText()) : new JsonObject(),
        };
    }

    /// <summary>An error after the stream began: OpenAI's <c>error</c> event.</summary>
    public Task StreamErrorAsync(HttpContext http, OpenAiError error) => EventAsync(http, "error", new JsonObject
    {
        ["code"] = error.Code ?? error.Type, ["message"] = error.Message, ["param"] = error.Param,
    }, http.RequestAborted);

    /// <summary>The answer's text: all of it, or with tool calls what it says beside them (the part already streamed kept as it was).</summary>
    private string AnswerText() => _tools?.Whole(_text.ToString()) ?? _text.ToString();

    /// <summary>A message item when the answer has text or no calls (an empty answer is an empty message), then a function_call item per call.</summary>
    private JsonArray Output()
    {
        var output = new JsonArray();
        var text = AnswerText();
        if (text.Length > 0 || Calls.Count == 0)
        {
            output.Add(MessageItem(text, _finish == FinishReason.Length ? "incomplete" : "completed"));
        }
        foreach (var (tool, i) in Calls.Select((tool, i) => (tool, i)))
        {
            output.Add(FunctionCallItem(tool, i, tool.ArgumentsJson, CallStatus));
        }
        return output;
    }

    private JsonObject MessageItem(string? text, string status) => new()
    {
        ["type"] = "message",
        ["id"] = _messageId,
        ["status"] = status,
        ["role"] = "assistant",
        ["content"] = text is null ? new JsonArray() : new JsonArray(TextPart(text)),
    };

    private JsonObject TextPart(string text) => new()
    {
        ["type"] = "output_text",
        ["text"] = text,
        ["annotations"] = new JsonArray(),
        ["logprobs"] = call.Logprobs ? _logprobs.ToJson()["content"]!.DeepClone() : new JsonArray(),
    };

    private JsonObject FunctionCallItem(ToolCall tool, int index, string arguments, string status) => new()
    {
        ["type"] = "function_call",
        ["id"] = $"fc_{Id["resp_".Length..]}_{index}",
        ["call_id"] = tool.Id,
        ["name"] = tool.Name,
        ["arguments"] = arguments,
        ["status"] = status,
    };

    /// <summary>A call is completed, or incomplete when max_output_tokens cut its arguments short.</summary>
    private string CallStatus => _finish == FinishReason.Length ? "incomplete" : "completed";

    private JsonObject UsageJson()
    {
        var usage = _usage ?? new Usage();
        return new JsonObject
        {
            ["input_tokens"] = usage.PromptTokens,
            ["input_tokens_details"] = new JsonObject { ["cached_tokens"] = usage.CachedPromptTokens },
            ["output_tokens"] = usage.GeneratedTokens,
            ["output_tokens_details"] = new JsonObject { ["reasoning_tokens"] = 0 },
            ["total_tokens"] = usage.PromptTokens + usage.GeneratedTokens,
        };
    }

    private async Task OpenMessageAsync(HttpContext http, CancellationToken cancellation)
    {
        if (_messageOpened)
        {
            return;
        }
        _messageOpened = true;
        await EventAsync(http, "response.output_item.added", new JsonObject { ["output_index"] = 0, ["item"] = MessageItem(null, "in_progress") }, cancellation);
        await EventAsync(http, "response.content_part.added", new JsonObject
        {
            ["item_id"] = _messageId, ["output_index"] = 0, ["content_index"] = 0,
            ["part"] = new JsonObject { ["type"] = "output_text", ["text"] = "", ["annotations"] = new JsonArray() },
        }, cancellation);
    }

    /// <summary>Closes the message (opened even when empty, if there are no calls), writes each call whole, then the response.</summary>
    private async Task FinishStreamAsync(HttpContext http, CancellationToken cancellation)
    {
        var text = AnswerText();
        if (text.Length > 0 || Calls.Count == 0)
        {
            await OpenMessageAsync(http, cancellation);
            await EventAsync(http, "response.output_text.done", new JsonObject
            {
                ["item_id"] = _messageId, ["output_index"] = 0, ["content_index"] = 0, ["text"] = text,
                ["logprobs"] = call.Logprobs ? _logprobs.ToJson()["content"]!.DeepClone() : new JsonArray(),
            }, cancellation);
            await EventAsync(http, "response.content_part.done", new JsonObject { ["item_id"] = _messageId, ["output_index"] = 0, ["content_index"] = 0, ["part"] = TextPart(text) }, cancellation);
            await EventAsync(http, "response.output_item.done", new JsonObject { ["output_index"] = 0, ["item"] = MessageItem(text, _finish == FinishReason.Length ? "incomplete" : "completed") }, cancellation);
        }
        var first = _messageOpened ? 1 : 0;
        for (var i = 0; i < Calls.Count; i++)
        {
            var item = FunctionCallItem(Calls[i], i, Calls[i].ArgumentsJson, CallStatus);
            var at = first + i;
            if (_tools?.Required is null)
            {
                // Calls read from a finished answer go whole; a required call has streamed its beginning and arguments.
                await EventAsync(http, "response.output_item.added", new JsonObject { ["output_index"] = at, ["item"] = FunctionCallItem(Calls[i], i, "", "in_progress") }, cancellation);
                await EventAsync(http, "response.function_call_arguments.delta", new JsonObject { ["item_id"] = item["id"]!.GetValue<string>(), ["output_index"] = at, ["delta"] = Calls[i].ArgumentsJson }, cancellation);
            }
            await EventAsync(http, "response.function_call_arguments.done", new JsonObject { ["item_id"] = item["id"]!.GetValue<string>(), ["output_index"] = at, ["arguments"] = Calls[i].ArgumentsJson }, cancellation);
            await EventAsync(http, "response.output_item.done", new JsonObject { ["output_index"] = at, ["item"] = item }, cancellation);
        }
    }

    /// <summary>The last event, after the response is stored: response.completed, or response.incomplete at max_output_tokens.</summary>
    public Task CompleteStreamAsync(HttpContext http, CancellationToken cancellation)
    {
        var response = ToJson();
        return EventAsync(http, response["status"]!.GetValue<string>() == "incomplete" ? "response.incomplete" : "response.completed", new JsonObject { ["response"] = response }, cancellation);
    }

    private async Task EventAsync(HttpContext http, string type, JsonObject data, CancellationToken cancellation)
    {
        var ordered = new JsonObject { ["type"] = type, ["sequence_number"] = _sequence++ };
        foreach (var (name, value) in data.ToList())
        {
            data.Remove(name);
            ordered[name] = value;
        }
        await OpenAiEndpoints.WriteEventAsync(http, ordered.ToJsonString(), cancellation, type);
    }
}
