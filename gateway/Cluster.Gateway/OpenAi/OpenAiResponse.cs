using System.Text;
using System.Text.Json.Nodes;
using Cluster.Contracts.Api;
using Cluster.Tokenizers;

namespace Cluster.Gateway.OpenAi;

/// <summary>
/// The OpenAI objects of one request, built from the shared path's response messages: a chunk per message when
/// streaming (<see cref="Chunk"/>), or the whole completion at the end (<see cref="Add"/>, then <see cref="Completion"/>).
/// Completions answer <c>text_completion</c> objects, chat <c>chat.completion</c> / <c>chat.completion.chunk</c>.
/// One choice (index 0): n > 1 is refused when the request is parsed.
/// </summary>
internal sealed class OpenAiResponse(OpenAiRequest call, string model, CheckpointTokenizer tokenizer)
{
    private readonly bool _chat = call.Endpoint == OpenAiEndpoint.ChatCompletions;
    private readonly string _id = (call.Endpoint == OpenAiEndpoint.ChatCompletions ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    private readonly StringBuilder _text = new();
    private readonly TokenLogprobsJson _logprobs = new(call.Endpoint, tokenizer);
    private string? _finishReason;
    private JsonObject? _usage;

    /// <summary>Chat streams open with the assistant's role and no content, as OpenAI's do; completions have no such chunk.</summary>
    public JsonObject? FirstChunk() => _chat ? Envelope(new JsonObject { ["index"] = 0, ["delta"] = new JsonObject { ["role"] = "assistant", ["content"] = "" }, ["logprobs"] = null, ["finish_reason"] = null }) : null;

    /// <summary>The chunk for one message: its text (and log-probabilities), and on the last one the finish reason.</summary>
    public JsonObject Chunk(GenerateResponse message)
    {
        var offset = _text.Length;
        Record(message);
        var logprobs = call.Logprobs ? new TokenLogprobsJson(call.Endpoint, tokenizer).Add(message, offset).ToJson() : null;
        var choice = _chat
            ? new JsonObject { ["index"] = 0, ["delta"] = message.Text.Length > 0 || message.FinishReason == FinishReason.Unspecified ? new JsonObject { ["content"] = message.Text } : new JsonObject(), ["logprobs"] = logprobs, ["finish_reason"] = FinishReasonOf(message) }
            : new JsonObject { ["index"] = 0, ["text"] = message.Text, ["logprobs"] = logprobs, ["finish_reason"] = FinishReasonOf(message) };
        return Envelope(choice);
    }

    /// <summary>The last chunk when <c>stream_options.include_usage</c> is set: no choices, the request's usage.</summary>
    public JsonObject UsageChunk()
    {
        var chunk = Envelope(null);
        chunk["usage"] = _usage?.DeepClone();
        return chunk;
    }

    public void Add(GenerateResponse message)
    {
        Record(message);
        _logprobs.Add(message, _text.Length - message.Text.Length);
    }

    public JsonObject Completion()
    {
        var logprobs = call.Logprobs ? _logprobs.ToJson() : null;
        var choice = _chat
            ? new JsonObject { ["index"] = 0, ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = _text.ToString() }, ["logprobs"] = logprobs, ["finish_reason"] = _finishReason }
            : new JsonObject { ["index"] = 0, ["text"] = _text.ToString(), ["logprobs"] = logprobs, ["finish_reason"] = _finishReason };
        return new JsonObject
        {
            ["id"] = _id,
            ["object"] = _chat ? "chat.completion" : "text_completion",
            ["created"] = _created,
            ["model"] = model,
            ["choices"] = new JsonArray(choice),
            ["usage"] = _usage?.DeepClone(),
        };
    }

    private void Record(GenerateResponse message)
    {
        _text.Append(message.Text);
        if (message.FinishReason != FinishReason.Unspecified)
        {
            _finishReason = FinishReasonOf(message);
            var usage = message.Usage ?? new Usage();
            _usage = new JsonObject
            {
                ["prompt_tokens"] = usage.PromptTokens,
                ["completion_tokens"] = usage.GeneratedTokens,
                ["total_tokens"] = usage.PromptTokens + usage.GeneratedTokens,
                ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = usage.CachedPromptTokens },
            };
        }
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

    /// <summary>"stop" (EOS, a stop token or sequence), "length" (max tokens), "abort" (cancelled, as vLLM names it); null while running.</summary>
    private static string? FinishReasonOf(GenerateResponse message) => message.FinishReason switch
    {
        FinishReason.Unspecified => null,
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => "abort",
    };
}
