using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cluster.LoadTest.Tests;

/// <summary>
/// OpenAiLoad against a scripted OpenAI-compatible server on a loopback port: it sends what the gRPC target sends
/// (greedy, ignore_eos, the planned prompt and length, streamed with usage), counts a token per chunk, reads the
/// usage chunk, and records a refused request by its HTTP status.
/// </summary>
public sealed class OpenAiLoadTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<JsonNode> _bodies = new();
    private int _calls;
    private WebApplication? _server;
    private HttpClient? _http;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        _server = builder.Build();
        _server.MapPost("/v1/{endpoint}", ServeAsync);
        _server.MapPost("/v1/chat/completions", ServeAsync);
        await _server.StartAsync();
        var address = _server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient { BaseAddress = new Uri(address + "/v1/") };
    }

    /// <summary>Every 4th call is a 429; the others stream max_tokens chunks of one token each, then usage (7 prompt tokens) and [DONE].</summary>
    private async Task ServeAsync(HttpContext context)
    {
        var body = (await JsonNode.ParseAsync(context.Request.Body))!;
        _bodies.Enqueue(body);
        if (Interlocked.Increment(ref _calls) % 4 == 0)
        {
            context.Response.StatusCode = 429;
            await context.Response.WriteAsync("""{"error": {"message": "full", "type": "rate_limit_error"}}""");
            return;
        }
        var chat = body["messages"] is not null;
        context.Response.ContentType = "text/event-stream";
        if (chat)
        {
            await context.Response.WriteAsync("data: {\"choices\": [{\"index\": 0, \"delta\": {\"role\": \"assistant\", \"content\": \"\"}}]}\n\n");
        }
        var tokens = (int)body["max_tokens"]!;
        for (var i = 0; i < tokens; i++)
        {
            var choice = chat ? "{\"index\": 0, \"delta\": {\"content\": \"x\"}}" : "{\"index\": 0, \"text\": \"x\"}";
            await context.Response.WriteAsync($"data: {{\"choices\": [{choice}]}}\n\n");
            await context.Response.Body.FlushAsync();
        }
        await context.Response.WriteAsync($"data: {{\"choices\": [], \"usage\": {{\"prompt_tokens\": 7, \"completion_tokens\": {tokens}, \"total_tokens\": {7 + tokens}}}}}\n\ndata: [DONE]\n\n");
    }

    public async Task DisposeAsync()
    {
        _http?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    private static LoadSettings Settings(int requests, IReadOnlyList<string>? texts = null) => new(
        [LoadLevel.AtConcurrency(3)], requests, DurationSeconds: null, LengthRange.Fixed(6), LengthRange.Fixed(4), WarmupRequests: 0, VocabularySize: 1000, Seed: 9,
        texts, new ServiceLevelObjectives(EndToEndMs: 60_000), SlowestRequests: 20);

    [Fact]
    public async Task Completions_carry_the_planned_prompt_and_length_and_count_tokens_usage_and_refusals()
    {
        var settings = Settings(12);
        var result = await new OpenAiLoad(_http!, "fake", chat: false).RunLevelAsync(settings, settings.Levels[0]);

        Assert.True(result.Completed == 9 && result.Errors == 3, $"completed {result.Completed}, errors {string.Join(", ", result.ErrorsByStatus)}; expected 9 and HTTP 429: 3");
        Assert.Equal(new Dictionary<string, int> { ["HTTP 429"] = 3 }, result.ErrorsByStatus);
        Assert.Equal("openai", result.Target);
        Assert.Equal(9 * 4, result.OutputTokens);
        Assert.Equal(9 * 7, result.PromptTokens);
        Assert.Equal(9 * 3, result.InterTokenLatency.Count);
        Assert.All(_bodies, body => Assert.True(
            body["prompt"] is JsonArray { Count: 6 } && (int)body["max_tokens"]! == 4 && (bool)body["ignore_eos"]! && (double)body["temperature"]! == 0
            && (bool)body["stream"]! && (bool)body["stream_options"]!["include_usage"]! && (string?)body["model"] == "fake",
            $"a request body without the planned 6 prompt ids, max_tokens 4, ignore_eos, temperature 0 and streamed usage: {body.ToJsonString()}"));
    }

    [Fact]
    public async Task Chat_sends_each_text_prompt_as_a_user_message_and_skips_the_role_chunk()
    {
        var settings = Settings(6, texts: ["one two three"]); // 6: at least 2 per stream; the 4th is refused
        var result = await new OpenAiLoad(_http!, "fake", chat: true).RunLevelAsync(settings, settings.Levels[0]);

        Assert.True(result.Completed == 5, $"completed {result.Completed}, errors {string.Join(", ", result.ErrorsByStatus)}; expected 5 and HTTP 429: 1");
        Assert.Equal("openai-chat", result.Target);
        Assert.Equal(5 * 4, result.OutputTokens);
        Assert.Equal(5 * 3, result.InterTokenLatency.Count); // the role chunk is no token: 4 tokens, 3 gaps each
        Assert.All(_bodies, body => Assert.Equal("one two three", (string?)body["messages"]![0]!["content"]));
    }
}
