using System.Net.Sockets;
using System.Text;
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
        var body = new JsonObject { ["prompt"] = "Keep going", ["max_tokens"] = MaxTokens, ["ignore_eos"] = true, ["stream"] = true }.ToJsonString();

        // A raw socket, not HttpClient: SocketsHttpHandler may drain an abandoned response to reuse its connection
        // (which on a fast machine read all 4,000 tokens), and whether it closes the socket is its own business.
        // Here the client reads the first event and resets the connection, as a crashed or killed client does.
        var address = new Uri(cluster.MetricsAddress!);
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(address.Host, address.Port);
            var stream = client.GetStream();
            var request = $"POST /v1/completions HTTP/1.1\r\nHost: {address.Authority}\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}";
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request));
            using var reader = new StreamReader(stream, Encoding.UTF8, leaveOpen: true);
            var status = await reader.ReadLineAsync();
            Assert.True(status == "HTTP/1.1 200 OK", $"status line: {status}");
            string? line;
            while ((line = await reader.ReadLineAsync()) is not null && !line.StartsWith("data: ", StringComparison.Ordinal))
            {
            }
            Assert.True(line?.StartsWith("data: {", StringComparison.Ordinal) == true, $"first event: {line}");
            client.Client.LingerState = new LingerOption(true, 0); // close now, with a reset
        }

        var freed = await cluster.WaitForStagesAsync(s => s.HoldsOnlyPrefixCache, "every stage to free the KV of a stream whose client disconnected (holding nothing but retained prefixes)");
        Assert.True(freed.All(s => s.TokensComputed < MaxTokens / 2),
            $"the stages went on computing after the client left ({MaxTokens} tokens were asked for): {ClusterUnderTest.Describe(freed)}");
    }
}
