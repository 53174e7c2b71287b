using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Cluster.Gateway.Tests.EndToEnd;
using OpenAI;
using OpenAI.Models;

namespace Cluster.Gateway.Tests.OpenAi;

/// <summary>
/// The HTTP API takes the same API keys and limits as gRPC: 401 in OpenAI's shape without a valid key (the SDK's
/// <c>Authorization: Bearer</c> is the key), and 429 with Retry-After when the key's tokens per minute are spent.
/// </summary>
public sealed class OpenAiAuthTests
{
    private static readonly string Key = new('k', 64);
    private static readonly string SmallKey = new('s', 64);
    private const int SmallTokensPerMinute = 100;

    [Fact]
    public async Task WithoutAValidKeyEveryRouteIs401AndAValidKeyServesTheSdk()
    {
        await using var cluster = await StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(cluster.MetricsAddress! + "/v1/") };
        var body = new JsonObject { ["prompt"] = "hi", ["max_tokens"] = 2 };

        await OpenAiApiTests.AssertErrorAsync(await http.GetAsync("models"), HttpStatusCode.Unauthorized, null, "invalid_api_key");
        await OpenAiApiTests.AssertErrorAsync(await http.PostAsJsonAsync("completions", body), HttpStatusCode.Unauthorized, null, "invalid_api_key");
        await OpenAiApiTests.AssertErrorAsync(await http.PostAsJsonAsync("responses", new JsonObject { ["input"] = "hi" }), HttpStatusCode.Unauthorized, null, "invalid_api_key");
        await OpenAiApiTests.AssertErrorAsync(await http.PostAsJsonAsync("/tokenize", body), HttpStatusCode.Unauthorized, null, "invalid_api_key"); // vLLM's, at the root
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "chat/completions") { Content = JsonContent.Create(body) };
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", new string('x', 64));
        var error = await OpenAiApiTests.AssertErrorAsync(await http.SendAsync(wrong), HttpStatusCode.Unauthorized, null, "invalid_api_key");
        Assert.Contains("invalid API key", (string?)error["message"]);

        var models = new OpenAIModelClient(new ApiKeyCredential(Key), new OpenAIClientOptions { Endpoint = http.BaseAddress });
        OpenAIModelCollection listed = await models.GetModelsAsync();
        Assert.Equal(ClusterUnderTest.ModelName, Assert.Single(listed).Id);
    }

    [Fact]
    public async Task AKeyWhoseTokensPerMinuteAreSpentGets429WithRetryAfter()
    {
        await using var cluster = await StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(cluster.MetricsAddress! + "/v1/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", SmallKey);
        // Each costs prompt + max_tokens = 1 + 60 of the minute's 100.
        var body = new JsonObject { ["prompt"] = "hi", ["max_tokens"] = 60, ["temperature"] = 0 };

        var first = await http.PostAsJsonAsync("completions", body);
        Assert.True(first.StatusCode == HttpStatusCode.OK, $"first request: HTTP {(int)first.StatusCode} {await first.Content.ReadAsStringAsync()}");
        var second = await http.PostAsJsonAsync("completions", body);
        await OpenAiApiTests.AssertErrorAsync(second, HttpStatusCode.TooManyRequests, null, "rate_limit_exceeded");
        Assert.True(second.Headers.RetryAfter?.Delta is { } wait && wait > TimeSpan.Zero && wait <= TimeSpan.FromMinutes(1),
            $"Retry-After: '{second.Headers.RetryAfter}'; expected a wait of at most a minute");
    }

    [Fact]
    public async Task EachOfNChoicesIsChargedAndOneOverTheKeysLimitRefusesTheWholeRequest()
    {
        await using var cluster = await StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(cluster.MetricsAddress! + "/v1/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", SmallKey);
        // Two choices of 1 + 45 tokens fit the minute's 100; three do not, so the third is refused and stops the others.
        var body = new JsonObject { ["prompt"] = "hi", ["max_tokens"] = 45, ["temperature"] = 0, ["n"] = 3 };

        var refused = await http.PostAsJsonAsync("completions", body);
        await OpenAiApiTests.AssertErrorAsync(refused, HttpStatusCode.TooManyRequests, null, "rate_limit_exceeded");
    }

    private static Task<ClusterUnderTest> StartAsync() => ClusterUnderTest.StartAsync(silos: 1, stages: 1, metricsPort: true, apiKey: Key, settings: new Dictionary<string, string?>
    {
        ["Gateway:Auth:Keys:0:Name"] = "team",
        ["Gateway:Auth:Keys:0:Key"] = Key,
        ["Gateway:Auth:Keys:1:Name"] = "small",
        ["Gateway:Auth:Keys:1:Key"] = SmallKey,
        ["Gateway:Auth:Keys:1:TokensPerMinute"] = SmallTokensPerMinute.ToString(),
    });
}
