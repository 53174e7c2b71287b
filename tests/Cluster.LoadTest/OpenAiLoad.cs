using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Cluster.LoadTest;

/// <summary>
/// Drives the gateway's OpenAI-compatible API (or any OpenAI-compatible server: vLLM, SGLang, llama.cpp's server) with
/// streamed requests, one level at a time (<see cref="LevelDriver"/>), so that one report compares the front doors.
/// <c>/v1/completions</c> sends the planned prompt as text or token ids; <c>/v1/chat/completions</c> (chat) sends it
/// as one user message, so it needs text prompts. Greedy with <c>ignore_eos</c> as for gRPC; a token is a chunk with a
/// choice, and the usage chunk (<c>stream_options.include_usage</c>) gives the prompt and output token counts.
/// </summary>
/// <param name="http">A client whose base address is the API's <c>/v1/</c>, with any authorization header set.</param>
public sealed class OpenAiLoad(HttpClient http, string model, bool chat)
{
    public string Target => chat ? "openai-chat" : "openai";

    public Task<LevelResult> RunLevelAsync(LoadSettings settings, LoadLevel level, Action<int>? progress = null, CancellationToken cancellation = default) =>
        LevelDriver.RunAsync(Target, settings, level, SendAsync, progress, cancellation);

    private async Task<RequestRecord> SendAsync(PlannedRequest planned, CancellationToken cancellation)
    {
        var trace = TraceParent.CreateRandom();
        using var request = new HttpRequestMessage(HttpMethod.Post, chat ? "chat/completions" : "completions") { Content = JsonContent.Create(Body(planned)) };
        request.Headers.Add(TraceParent.HeaderName, trace.Header);
        var clock = Stopwatch.StartNew();
        double? first = null;
        var last = 0.0;
        var gaps = new List<double>(planned.MaxNewTokens);
        var tokens = 0;
        var promptTokens = planned.PromptTokens;
        var cachedTokens = 0;
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
            if (!response.IsSuccessStatusCode)
            {
                return RequestRecord.Failed(clock.Elapsed.TotalSeconds, $"HTTP {(int)response.StatusCode}", trace.TraceId);
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation));
            while (await reader.ReadLineAsync(cancellation) is { } line)
            {
                if (!line.StartsWith("data: ", StringComparison.Ordinal) || line == "data: [DONE]")
                {
                    continue;
                }
                var chunk = JsonNode.Parse(line.AsSpan("data: ".Length).ToString())!;
                if (chunk["error"] is { } error)
                {
                    return RequestRecord.Failed(clock.Elapsed.TotalSeconds, $"stream error: {(string?)error["type"]}", trace.TraceId);
                }
                if (chunk["usage"] is JsonObject usage)
                {
                    promptTokens = (int)usage["prompt_tokens"]!;
                    tokens = (int)usage["completion_tokens"]!;
                    cachedTokens = (int?)usage["prompt_tokens_details"]?["cached_tokens"] ?? 0;
                }
                if (chunk["choices"] is not JsonArray { Count: > 0 } || IsRoleChunk(chunk))
                {
                    continue;
                }
                var now = clock.Elapsed.TotalSeconds;
                if (first is null)
                {
                    first = now;
                }
                else
                {
                    gaps.Add(now - last);
                }
                last = now;
            }
            return new RequestRecord(first ?? clock.Elapsed.TotalSeconds, clock.Elapsed.TotalSeconds, promptTokens, tokens, gaps, null, TraceId: trace.TraceId, CachedPromptTokens: cachedTokens);
        }
        catch (HttpRequestException error)
        {
            return RequestRecord.Failed(clock.Elapsed.TotalSeconds, error.HttpRequestError.ToString(), trace.TraceId);
        }
    }

    private JsonObject Body(PlannedRequest planned)
    {
        var body = new JsonObject
        {
            ["model"] = model,
            ["max_tokens"] = planned.MaxNewTokens,
            ["temperature"] = 0,
            ["ignore_eos"] = true,
            ["stream"] = true,
            ["stream_options"] = new JsonObject { ["include_usage"] = true },
        };
        if (chat)
        {
            var text = planned.Text ?? throw new InvalidOperationException("A chat load needs text prompts (--prompts-file).");
            body["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text });
        }
        else
        {
            body["prompt"] = planned.TokenIds is { } ids ? new JsonArray([.. ids.Select(id => (JsonNode)id)]) : planned.Text;
            body["add_special_tokens"] = false; // as the gRPC target sends its prompts: exactly the planned tokens
        }
        return body;
    }

    /// <summary>A chat stream's first chunk carries the assistant's role and no token.</summary>
    private bool IsRoleChunk(JsonNode chunk) => chat && chunk["choices"]![0]!["delta"]?["role"] is not null;
}
