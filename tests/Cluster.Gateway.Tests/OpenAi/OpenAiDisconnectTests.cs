using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Cluster.Gateway.Tests.EndToEnd;
using Cluster.Testing;

namespace Cluster.Gateway.Tests.OpenAi;

/// <summary>A client that goes away in the middle of an OpenAI stream stops its generation and frees its KV on every stage.</summary>
public sealed class OpenAiDisconnectTests
{
    // Long enough that the run is far from its end when the client leaves: the tiny model computes a token in well
    // under a millisecond, so the context is widened to leave thousands of tokens to go.
    private const int MaxTokens = 4000;

    [Fact]
    public async Task AClientThatDisconnectsMidStreamStopsItsGenerationAndFreesTheKvOnEveryStage()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 2, metricsPort: true,
            model: TinyModelOptions.Llama with { MaxPositionEmbeddings = MaxTokens + 64 });
        // SocketsHttpHandler drains up to 1 MB of an abandoned HTTP/1.1 response (for 2 s) to reuse the connection:
        // on a fast machine that reads the whole stream to its end and the client never leaves. No drain: it hangs up.
        using var handler = new SocketsHttpHandler { MaxResponseDrainSize = 0 };
        using var http = new HttpClient(handler) { BaseAddress = new Uri(cluster.MetricsAddress! + "/v1/") };
        var body = new JsonObject { ["prompt"] = "Keep going", ["max_tokens"] = MaxTokens, ["ignore_eos"] = true, ["stream"] = true };

        using (var request = new HttpRequestMessage(HttpMethod.Post, "completions") { Content = JsonContent.Create(body) })
        using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: {", await reader.ReadLineAsync());
        } // disposing the response mid-stream closes the connection

        var freed = await cluster.WaitForStagesAsync(s => s.Sessions == 0 && s.KvBytes == 0, "every stage to free the KV of a stream whose client disconnected");
        Assert.True(freed.All(s => s.TokensComputed < MaxTokens / 2),
            $"the stages went on computing after the client left ({MaxTokens} tokens were asked for): {ClusterUnderTest.Describe(freed)}");
    }
}
