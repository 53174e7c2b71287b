using System.Text;
using System.Text.Json.Nodes;
using Cluster.Contracts.Api;
using Cluster.Tokenizers;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// The OpenAI objects of one request, built from the shared path's response messages of each of its choices (OpenAI's
/// <c>n</c>, one generation each): a chunk per message when streaming (<see cref="Chunk"/>), or the whole completion at
/// the end (<see cref="Add"/>, then <see cref="Completion"/>). Completions answer <c>text_completion</c> objects, chat
/// <c>chat.completion</c> / <c>chat.completion.chunk</c>. Not thread-safe: the caller serialises the choices' messages.
/// </summary>
internal sealed class OpenAiResponse(OpenAiRequest call, string model, CheckpointTokenizer tokenizer)
{
    private readonly bool _chat = call.Endpoint == OpenAiEndpoint.ChatCompletions;
    private readonly string _id = (call.Endpoint == OpenAiEndpoint.ChatCompletions ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    private readonly Choice[] _choices = [.. Enumerable.Range(0, call.Choices).Select(_ => new Choice(new TokenLogprobsJson(call.Endpoint, tokenizer))
    {
        Tools = call.MayCallTools ? new Requests.ToolAnswer(call.ModelDecidesCalls, call.OneToolCall) : null,
    })];

    /// <summary>With <c>echo</c>: each choice's prompt as text (a token-id prompt decoded), which the choice's text starts with.</summary>
    private readonly string[] _echo = [.. Enumerable.Range(0, call.Choices).Select(index => call.Echo ? PromptText(call.PromptOf(index), tokenizer) : "")];

    private static string PromptText(GenerateRequest prompt, CheckpointTokenizer tokenizer) =>
        prompt.PromptCase == GenerateRequest.PromptOneofCase.TokenIds ? tokenizer.Decode(prompt.TokenIds.Ids) : prompt.Text;

    /// <summary>What one choice has produced so far.</summary>
    private sealed class Choice(TokenLogprobsJson logprobs)
    {
        public StringBuilder Text { get; } = new();
        public TokenLogprobsJson Logprobs { get; } = logprobs;
        public string? FinishReason { get; set; }
        public bool Opened { get; set; }
        public Usage? Usage { get; set; }

        /// <summary>When the request offered tools: what of the answer is text and what calls.</summary>
        public Requests.ToolAnswer? Tools { get; init; }

        public IReadOnlyList<ToolCall> ToolCalls => Tools?.Calls ?? [];

        /// <summary>The required call's name is known and its opening delta not yet sent.</summary>
        public bool CallToOpen { get; set; }

        /// <summary>The required call's arguments read but not yet sent.</summary>
        public StringBuilder PendingArguments { get; } = new();
    }

    /// <summary>
    /// The chunk that opens a choice's stream, the first time it is asked for, null after: chat streams open with the
    /// assistant's role and no content, as OpenAI's do; completions with <c>echo</c> with the prompt's text; other
    /// completions have no such chunk.
    /// </summary>
    public JsonObject? OpeningChunk(int index, GenerateResponse first)
    {
        if (_choices[index].Opened || (!_chat && _echo[index].Length == 0))
        {
            return null;
        }
        _choices[index].Opened = true;
        // With echo and logprobs, the prompt's tokens and their log-probabilities go with the prompt's text.
        var promptLogprobs = !_chat && call.Logprobs ? PromptLogprobs(first) : null;
        return Envelope(_chat
            ? new JsonObject { ["index"] = index, ["delta"] = new JsonObject { ["role"] = "assistant", ["content"] = "" }, ["logprobs"] = null, ["finish_reason"] = null }
            : new JsonObject { ["index"] = index, ["text"] = _echo[index], ["logprobs"] = promptLogprobs, ["finish_reason"] = null });
    }

    private JsonObject PromptLogprobs(GenerateResponse first)
    {
        var json = new TokenLogprobsJson(call.Endpoint, tokenizer);
        json.AddPrompt(first);
        return json.ToJson();
    }

    /// <summary>
    /// The chunk for one message of choice <paramref name="index"/>: its text (and log-probabilities), and on the last one
    /// the finish reason. A request that may call tools holds back what may be a call (null while there is nothing
    /// else to send): with tool_choice auto the text up to where a call could begin streams as it comes
    /// (<see cref="Requests.ChatTools.SurelyText"/>); the last chunk carries the calls, or the rest of the text, whole,
    /// and the log-probabilities of the whole answer.
    /// </summary>
    public JsonObject? Chunk(int index, GenerateResponse message)
    {
        message = Answered(message);
        var offset = _choices[index].Text.Length;
        if (_choices[index].Tools?.Required is not null)
        {
            Add(index, message);
            return RequiredCallChunk(index, message.FinishReason != FinishReason.Unspecified);
        }
        if (call.MayCallTools)
        {
            Add(index, message);
            if (message.FinishReason != FinishReason.Unspecified)
            {
                return HeldChunk(index);
            }
            var held = _choices[index];
            var text = held.Tools!.TakeSurelyText(held.Text.ToString());
            if (text.Length == 0)
            {
                return null;
            }
            return Envelope(new JsonObject { ["index"] = index, ["delta"] = new JsonObject { ["content"] = text }, ["logprobs"] = null, ["finish_reason"] = null });
        }
        Record(index, message);
        var logprobs = call.Logprobs ? new TokenLogprobsJson(call.Endpoint, tokenizer).Add(message, _echo[index].Length + offset).ToJson() : null;
        var choice = _chat
            ? new JsonObject { ["index"] = index, ["delta"] = message.Text.Length > 0 || message.FinishReason == FinishReason.Unspecified ? new JsonObject { ["content"] = message.Text } : new JsonObject(), ["logprobs"] = logprobs, ["finish_reason"] = FinishReasonOf(message) }
            : new JsonObject { ["index"] = index, ["text"] = message.Text, ["logprobs"] = logprobs, ["finish_reason"] = FinishReasonOf(message) };
        return Envelope(choice);
    }

    /// <summary>
    /// A required call streams as the peers stream one: a delta with its id, type and name when the name is written,
    /// then its arguments' text as it comes, then the finish reason (null while there is nothing to send). An answer
    /// that ended before it named the tool goes as text, as it was.
    /// </summary>
    private JsonObject? RequiredCallChunk(int index, bool finished)
    {
        var choice = _choices[index];
        var required = choice.Tools!.Required!;
        if (required.Name is null)
        {
            return finished ? HeldChunk(index) : null;
        }
        var delta = new JsonObject();
        if (choice.CallToOpen || choice.PendingArguments.Length > 0)
        {
            var function = new JsonObject();
            var part = new JsonObject { ["index"] = 0 };
            if (choice.CallToOpen)
            {
                part["id"] = required.Id;
                part["type"] = "function";
                function["name"] = required.Name;
            }
            function["arguments"] = choice.PendingArguments.ToString();
            part["function"] = function;
            delta["tool_calls"] = new JsonArray(part);
            choice.CallToOpen = false;
            choice.PendingArguments.Clear();
        }
        else if (!finished)
        {
            return null;
        }
        return Envelope(new JsonObject
        {
            ["index"] = index, ["delta"] = delta, ["logprobs"] = finished && call.Logprobs ? choice.Logprobs.ToJson() : null, ["finish_reason"] = choice.FinishReason,
        });
    }

    private JsonObject HeldChunk(int index)
    {
        var choice = _choices[index];
        var delta = new JsonObject();
        if (choice.Tools!.Rest(choice.Text.ToString()) is { Length: > 0 } text)
        {
            delta["content"] = text;
        }
        if (choice.ToolCalls.Count > 0)
        {
            delta["tool_calls"] = ToolCallsJson(choice, streamed: true);
        }
        return Envelope(new JsonObject { ["index"] = index, ["delta"] = delta, ["logprobs"] = call.Logprobs ? choice.Logprobs.ToJson() : null, ["finish_reason"] = choice.FinishReason });
    }

    /// <summary>A finished answer's content: all its text, or with tool calls what it says beside them (null when nothing).</summary>
    private static string? AnswerText(Choice choice)
    {
        var text = choice.Tools?.Whole(choice.Text.ToString()) ?? choice.Text.ToString();
        return choice.ToolCalls.Count > 0 && text.Length == 0 ? null : text;
    }

    private static JsonArray ToolCallsJson(Choice choice, bool streamed) => new([.. choice.ToolCalls.Select((tool, i) =>
    {
        var json = new JsonObject();
        if (streamed)
        {
            json["index"] = i; // a stream's tool-call deltas say which call they extend
        }
        json["id"] = tool.Id;
        json["type"] = "function";
        json["function"] = new JsonObject { ["name"] = tool.Name, ["arguments"] = tool.ArgumentsJson };
        return (JsonNode)json;
    })]);

    /// <summary>The last chunk when <c>stream_options.include_usage</c> is set: no choices, the request's usage.</summary>
    public JsonObject UsageChunk()
    {
        var chunk = Envelope(null);
        chunk["usage"] = UsageJson();
        return chunk;
    }

    public void Add(int index, GenerateResponse message)
    {
        message = Answered(message);
        var choice = _choices[index];
        Record(index, message);
        if (message.PromptTokenIds.Count > 0 && !_chat)
        {
            choice.Logprobs.AddPrompt(message);
        }
        choice.Logprobs.Add(message, _echo[index].Length + choice.Text.Length - message.Text.Length);
    }

    public JsonObject Completion() => new()
    {
        ["id"] = _id,
        ["object"] = _chat ? "chat.completion" : "text_completion",
        ["created"] = _created,
        ["model"] = model,
        ["choices"] = new JsonArray([.. _choices.Select((choice, index) => (JsonNode)CompletedChoice(choice, index))]),
        ["usage"] = UsageJson(),
    };

    private JsonObject CompletedChoice(Choice choice, int index)
    {
        var logprobs = call.Logprobs ? choice.Logprobs.ToJson() : null;
        var message = new JsonObject { ["role"] = "assistant", ["content"] = AnswerText(choice) };
        if (choice.ToolCalls.Count > 0)
        {
            message["tool_calls"] = ToolCallsJson(choice, streamed: false);
        }
        return _chat
            ? new JsonObject { ["index"] = index, ["message"] = message, ["logprobs"] = logprobs, ["finish_reason"] = choice.FinishReason }
            : new JsonObject { ["index"] = index, ["text"] = _echo[index] + choice.Text, ["logprobs"] = logprobs, ["finish_reason"] = choice.FinishReason };
    }

    /// <summary>
    /// What the client is answered of a message: itself, or with <see cref="OpenAiRequest.PromptOnly"/> no generated
    /// token (the one the prefill's last step sampled is not the answer's: the prompt alone is, cut at length).
    /// </summary>
    private GenerateResponse Answered(GenerateResponse message)
    {
        if (!call.PromptOnly)
        {
            return message;
        }
        var prompt = new GenerateResponse(message) { Text = "", FinishReason = message.FinishReason == FinishReason.Unspecified ? FinishReason.Unspecified : FinishReason.Length };
        prompt.Logprobs.Clear();
        prompt.TokenIds.Clear();
        if (message.Usage is { } usage)
        {
            prompt.Usage = new Usage(usage) { GeneratedTokens = 0 };
        }
        return prompt;
    }

    private void Record(int index, GenerateResponse message)
    {
        var choice = _choices[index];
        choice.Text.Append(message.Text);
        if (choice.Tools is { } tools)
        {
            var (began, piece) = tools.Read(choice.Text.ToString(), message);
            choice.CallToOpen |= began;
            choice.PendingArguments.Append(piece);
        }
        if (message.FinishReason != FinishReason.Unspecified)
        {
            choice.FinishReason = FinishReasonOf(message);
            choice.Usage = message.Usage ?? new Usage();
        }
    }

    /// <summary>
    /// OpenAI's usage for the whole request: each prompt counted once (its first choice's count, and its cached tokens),
    /// the completion tokens of every choice summed. Null until every choice has finished.
    /// </summary>
    private JsonObject? UsageJson()
    {
        if (_choices.Any(c => c.Usage is null))
        {
            return null;
        }
        var prompts = _choices.Where((_, index) => index % call.PerPrompt == 0).Select(c => c.Usage!).ToList();
        var (prompt, cached) = (prompts.Sum(u => (long)u.PromptTokens), prompts.Sum(u => (long)u.CachedPromptTokens));
        var completion = _choices.Sum(c => (long)c.Usage!.GeneratedTokens);
        return new JsonObject
        {
            ["prompt_tokens"] = prompt,
            ["completion_tokens"] = completion,
            ["total_tokens"] = prompt + completion,
            ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = cached },
        };
    }

    private JsonObject Envelope(JsonObject? choice)
    {
        var chunk = new JsonObject
        {
            ["id"] = _id,
            ["object"] = _chat ? "chat.completion.chunk" : "text_completion",
            ["created"] = _created,
            ["model"] = model,
            ["choices"] = choice is null ? new JsonArray() : new JsonArray(choice),
        };
        if (call.IncludeUsage)
        {
            chunk["usage"] = null; // OpenAI's chunks carry "usage": null until the last one when usage is asked for
        }
        return chunk;
    }

    /// <summary>"stop" (EOS, a stop token or sequence), "length" (max tokens), "tool_calls", "abort" (cancelled, as vLLM names it); null while running.</summary>
    private static string? FinishReasonOf(GenerateResponse message) => message.FinishReason switch
    {
        FinishReason.Unspecified => null,
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        FinishReason.ToolCalls => "tool_calls",
        _ => "abort",
    };
}
