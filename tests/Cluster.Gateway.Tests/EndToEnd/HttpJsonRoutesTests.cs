using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Cluster.Contracts.Api;
using Google.Protobuf;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// The HTTP/JSON routes (/api/v1/..., gRPC JSON transcoding) are the gRPC service behind another encoding: the same
/// answers as gRPC for the same request, the same refusals (as HTTP statuses with the status as JSON), and the same
/// API keys, refused with 401 and a JSON body before the request is read.
/// </summary>
public sealed class HttpJsonRoutesTests
{
    private static readonly string Key = new('j', 64);
    private const string Prompt = "In the beginning 안녕 👋";
    private const int MaxRequestBytes = 64 * 1024;

    [Fact]
    public async Task EveryRouteWithoutAValidKeyIs401WithTheStatusAsJson()
    {
        await using var cluster = await StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(cluster.MetricsAddress!) };
        var failures = new List<string>();
        foreach (var (method, path) in new[] { ("GET", "/api/v1/models"), ("POST", "/api/v1/inspect"), ("POST", "/api/v1/tokenize"), ("POST", "/api/v1/generate") })
        {
            foreach (var (what, bearer, expected) in new[] { ("no key", (string?)null, "missing bearer token"), ("a wrong key", new string('x', 64), "invalid API key") })
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), path);
                if (method == "POST")
                {
                    request.Content = Json(new JsonObject { ["text"] = Prompt });
                }
                if (bearer is not null)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
                }
                using var response = await http.SendAsync(request);
                var body = await response.Content.ReadAsStringAsync();
                var status = TryParse(body);
                if (response.StatusCode != HttpStatusCode.Unauthorized || (int?)status?["code"] != (int)Grpc.Core.StatusCode.Unauthenticated
                    || !((string?)status?["message"] ?? "").StartsWith(expected, StringComparison.Ordinal))
                {
                    failures.Add($"{method} {path} with {what}: HTTP {(int)response.StatusCode}, body {body}; expected 401 with {{\"code\": 16, \"message\": \"{expected}...\"}}");
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public async Task InspectTokenizeAndModelsAnswerAsGrpcDoesAndBadFieldsAre400NamingTheField()
    {
        await using var cluster = await StartAsync();
        using var http = Authorized(cluster);
        var headers = ClusterUnderTest.Bearer(Key);

        var inspectRequest = new InspectRequest { Text = Prompt, TopN = 3, Sampling = new SamplingParameters { Temperature = 0.7f, TopK = 5 } };
        var viaJson = await PostAsync<InspectResponse>(http, "/api/v1/inspect", inspectRequest);
        var viaGrpc = await cluster.Client.InspectAsync(inspectRequest, headers);
        Assert.Equal(viaGrpc, viaJson);

        var tokenizeRequest = new TokenizeRequest { Text = Prompt };
        Assert.Equal(await cluster.Client.TokenizeAsync(tokenizeRequest, headers), await PostAsync<TokenizeResponse>(http, "/api/v1/tokenize", tokenizeRequest));

        var models = JsonParser.Default.Parse<ListModelsResponse>(await http.GetStringAsync("/api/v1/models"));
        Assert.Equal(ClusterUnderTest.ModelName, Assert.Single(models.Models).Name);

        var failures = new List<string>();
        foreach (var (body, status, field) in new[]
        {
            (new JsonObject { ["text"] = Prompt, ["topN"] = 99 }, HttpStatusCode.BadRequest, "top_n"),
            (new JsonObject { ["text"] = Prompt, ["sampling"] = new JsonObject { ["topP"] = 2 } }, HttpStatusCode.BadRequest, "sampling.top_p"),
            (new JsonObject { ["text"] = Prompt, ["model"] = "nope" }, HttpStatusCode.NotFound, "nope"),
        })
        {
            using var response = await http.PostAsync("/api/v1/inspect", Json(body));
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != status || !((string?)TryParse(text)?["message"] ?? "").Contains(field, StringComparison.Ordinal))
            {
                failures.Add($"inspect {body.ToJsonString()}: HTTP {(int)response.StatusCode}, body {text}; expected {(int)status} with a message naming '{field}'");
            }
        }
        // gRPC's receive limit (Gateway:MaxRequestBytes) bounds the body: refused while read, not parsed. Small here, so
        // the whole body fits the loopback socket's buffers before the gateway answers and closes the connection.
        using var tooLarge = await http.PostAsync("/api/v1/inspect", Json(new JsonObject { ["text"] = new string('a', MaxRequestBytes + 1000) }));
        var tooLargeBody = await tooLarge.Content.ReadAsStringAsync();
        if (tooLarge.StatusCode != HttpStatusCode.BadRequest || !((string?)TryParse(tooLargeBody)?["message"] ?? "").Contains(MaxRequestBytes.ToString(), StringComparison.Ordinal))
        {
            failures.Add($"a body over the limit: HTTP {(int)tooLarge.StatusCode}, body {tooLargeBody}; expected 400 naming the limit, {MaxRequestBytes} bytes");
        }
        using var notJson = await http.PostAsync("/api/v1/inspect", new StringContent("{\"text\": ", Encoding.UTF8, "application/json"));
        if (notJson.StatusCode != HttpStatusCode.BadRequest)
        {
            failures.Add($"a body that is not JSON: HTTP {(int)notJson.StatusCode}, body {await notJson.Content.ReadAsStringAsync()}; expected 400");
        }
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public async Task GenerateStreamsOneJsonMessagePerLineWithGrpcsTokensForTheSameSeed()
    {
        await using var cluster = await StartAsync();
        using var http = Authorized(cluster);
        var request = new GenerateRequest
        {
            Text = Prompt,
            TopLogprobs = 3,
            Sampling = new SamplingParameters { Temperature = 0.9f, Seed = 42, MaxNewTokens = 8, IgnoreEos = true },
        };

        using var response = await http.PostAsync("/api/v1/generate", Json(JsonNode.Parse(JsonFormatter.Default.Format(request))!));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"HTTP {(int)response.StatusCode}: {body}");
        var messages = body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(JsonParser.Default.Parse<GenerateResponse>).ToList();
        var (grpcTokens, grpcLast) = await ShardedGenerationTests.GenerateAsync(cluster, request, Key);

        var jsonTokens = messages.SelectMany(m => m.TokenIds).ToList();
        Assert.True(jsonTokens.SequenceEqual(grpcTokens), $"HTTP/JSON tokens [{string.Join(", ", jsonTokens)}], gRPC's [{string.Join(", ", grpcTokens)}]");
        Assert.Equal(grpcLast.FinishReason, messages[^1].FinishReason);
        Assert.All(messages, m => Assert.Equal(m.TokenIds.Count, m.Logprobs.Count));
    }

    private static async Task<T> PostAsync<T>(HttpClient http, string path, IMessage request) where T : IMessage, new()
    {
        using var response = await http.PostAsync(path, Json(JsonNode.Parse(JsonFormatter.Default.Format(request))!));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"POST {path}: HTTP {(int)response.StatusCode}: {body}");
        return JsonParser.Default.Parse<T>(body);
    }

    private static HttpClient Authorized(ClusterUnderTest cluster)
    {
        var http = new HttpClient { BaseAddress = new Uri(cluster.MetricsAddress!) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        return http;
    }

    private static StringContent Json(JsonNode body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static JsonNode? TryParse(string body)
    {
        try
        {
            return JsonNode.Parse(body);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static Task<ClusterUnderTest> StartAsync() => ClusterUnderTest.StartAsync(silos: 2, stages: 2, metricsPort: true, apiKey: Key, settings: new Dictionary<string, string?>
    {
        ["Gateway:Auth:Keys:0:Name"] = "page",
        ["Gateway:Auth:Keys:0:Key"] = Key,
        ["Gateway:MaxRequestBytes"] = MaxRequestBytes.ToString(),
    });
}
