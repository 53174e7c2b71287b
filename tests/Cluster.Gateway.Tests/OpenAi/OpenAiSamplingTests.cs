using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Cluster.Contracts.Api;
using Cluster.Gateway.Tests.EndToEnd;
using Grpc.Core;
using Microsoft.Extensions.AI;
using OpenAI;

namespace Cluster.Gateway.Tests.OpenAi;

/// <summary>
/// What the OpenAI front door does with sampling: a seeded request gives the tokens gRPC Generate gives with that seed
/// (and the same again), a stop string cuts the text where gRPC's does, and Microsoft.Extensions.AI's chat client
/// (what Semantic Kernel and .NET AI apps call) reads the same answers, streamed or not.
/// </summary>
public sealed class OpenAiSamplingTests : IAsyncLifetime
{
    private const string Template =
        "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

    private ClusterUnderTest _cluster = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        _cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 2, metricsPort: true, addCheckpointFiles: directory =>
            File.WriteAllText(Path.Combine(directory, "chat_template.jinja"), Template));
        _http = new HttpClient { BaseAddress = new Uri(_cluster.MetricsAddress! + "/v1/"), Timeout = TimeSpan.FromMinutes(2) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _cluster.DisposeAsync();
    }

    [Fact]
    public async Task ASeededCompletionGivesGrpcsTokensForThatSeedAndTheSameAgain()
    {
        var grpc = await GrpcTextAsync(new GenerateRequest
        {
            Text = "Once upon a time",
            Sampling = new SamplingParameters { Temperature = 1.3f, TopK = 40, TopP = 0.95f, Seed = 1234, MaxNewTokens = 16, IgnoreEos = true },
        });
        var body = new JsonObject { ["prompt"] = "Once upon a time", ["temperature"] = 1.3, ["top_k"] = 40, ["top_p"] = 0.95, ["seed"] = 1234, ["max_tokens"] = 16, ["ignore_eos"] = true };

        var first = await CompletionTextAsync(body);
        var second = await CompletionTextAsync(body);
        body["seed"] = 99;
        var otherSeed = await CompletionTextAsync(body);

        Assert.True(first == grpc, $"seed 1234: /v1/completions '{first}', gRPC Generate '{grpc}'");
        Assert.True(second == first, $"seed 1234 twice: '{first}', then '{second}'");
        Assert.True(otherSeed != first, $"seeds 1234 and 99 gave the same 16 sampled tokens '{first}': the seed does not reach the sampler");
    }

    [Fact]
    public async Task AStopStringCutsTheChatAnswerWhereGrpcWouldAndFinishesWithStop()
    {
        var full = await GrpcTextAsync(ChatRequest(24));
        Assert.True(full.Length >= 6, $"the greedy answer '{full}' is too short to pick a stop string from");
        var stop = full.Substring(full.Length / 2, 2);
        var expected = full[..full.IndexOf(stop, StringComparison.Ordinal)];

        var body = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "system", ["content"] = "Be brief." }, new JsonObject { ["role"] = "user", ["content"] = "hello there" }),
            ["temperature"] = 0,
            ["max_tokens"] = 24,
            ["ignore_eos"] = true,
            ["stop"] = stop,
        };
        var response = await _http.PostAsJsonAsync("chat/completions", body);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToJsonString());
        var choice = json["choices"]![0]!;
        Assert.True((string?)choice["message"]!["content"] == expected, $"stop '{stop}' in '{full}': got '{choice["message"]!["content"]}', expected '{expected}'");
        Assert.Equal("stop", (string?)choice["finish_reason"]);
    }

    [Fact]
    public async Task MicrosoftExtensionsAisChatClientReadsTheSameAnswerStreamedOrNot()
    {
        var expected = await GrpcTextAsync(ChatRequest(10));
        IChatClient client = new OpenAI.Chat.ChatClient(ClusterUnderTest.ModelName, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _http.BaseAddress })
            .AsIChatClient();
        List<Microsoft.Extensions.AI.ChatMessage> messages = [new(ChatRole.System, "Be brief."), new(ChatRole.User, "hello there")];
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 10 };

        var response = await client.GetResponseAsync(messages, options);
        var streamed = new StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync(messages, options))
        {
            streamed.Append(update.Text);
        }

        Assert.True(response.Text == expected, $"IChatClient '{response.Text}', gRPC '{expected}'");
        Assert.True(streamed.ToString() == expected, $"IChatClient streamed '{streamed}', gRPC '{expected}'");
        Assert.True(response.Usage?.OutputTokenCount > 0, $"usage {response.Usage?.InputTokenCount} in / {response.Usage?.OutputTokenCount} out");
    }

    [Fact]
    public async Task EmbeddingsThroughTheSdkAndMicrosoftExtensionsAiEqualGrpcEmbed()
    {
        string[] texts = ["In the beginning", "was the word"];
        var grpc = await _cluster.Client.EmbedAsync(new EmbedRequest { Texts = { texts } });
        var client = new OpenAI.Embeddings.EmbeddingClient(ClusterUnderTest.ModelName, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _http.BaseAddress });

        var sdk = (await client.GenerateEmbeddingsAsync(texts)).Value; // the SDK asks for base64
        IEmbeddingGenerator<string, Embedding<float>> generator = client.AsIEmbeddingGenerator();
        var extensions = await generator.GenerateAsync(texts);
        var floats = await _http.PostAsJsonAsync("embeddings", new JsonObject { ["input"] = new JsonArray(texts[0], texts[1]), ["encoding_format"] = "float" });
        var json = JsonNode.Parse(await floats.Content.ReadAsStringAsync())!;

        for (var i = 0; i < texts.Length; i++)
        {
            var expected = grpc.Embeddings[i].Values.ToArray();
            Assert.True(expected.SequenceEqual(sdk[i].ToFloats().ToArray()), $"input {i}: the OpenAI SDK's vector differs from gRPC Embed's");
            Assert.True(expected.SequenceEqual(extensions[i].Vector.ToArray()), $"input {i}: IEmbeddingGenerator's vector differs from gRPC Embed's");
            Assert.True(expected.SequenceEqual(json["data"]![i]!["embedding"]!.AsArray().Select(v => (float)v!)), $"input {i}: encoding_format float differs from gRPC Embed's");
        }
        Assert.Equal((int)grpc.PromptTokens, (int)json["usage"]!["prompt_tokens"]!);

        var wrongWidth = await _http.PostAsJsonAsync("embeddings", new JsonObject { ["input"] = "x", ["dimensions"] = 3 });
        await OpenAiApiTests.AssertErrorAsync(wrongWidth, HttpStatusCode.BadRequest, "dimensions", null);
        var empty = await _http.PostAsJsonAsync("embeddings", new JsonObject { ["input"] = new JsonArray() });
        await OpenAiApiTests.AssertErrorAsync(empty, HttpStatusCode.BadRequest, "input", null);
    }

    private static GenerateRequest ChatRequest(uint maxTokens)
    {
        var request = new GenerateRequest { Messages = new ChatMessages(), Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = maxTokens, IgnoreEos = maxTokens > 10 } };
        request.Messages.Messages.Add(new Contracts.Api.ChatMessage { Role = "system", Content = "Be brief." });
        request.Messages.Messages.Add(new Contracts.Api.ChatMessage { Role = "user", Content = "hello there" });
        return request;
    }

    private async Task<string> GrpcTextAsync(GenerateRequest request)
    {
        var text = new StringBuilder();
        using var call = _cluster.Client.Generate(request);
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            text.Append(response.Text);
        }
        return text.ToString();
    }

    private async Task<string> CompletionTextAsync(JsonObject body)
    {
        var response = await _http.PostAsJsonAsync("completions", body);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(response.StatusCode == HttpStatusCode.OK, json.ToJsonString());
        return (string)json["choices"]![0]!["text"]!;
    }
}
