using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>Every bad request gets its status and a message naming the field and the limit; the server keeps serving.</summary>
public sealed class BadInputTests
{
    public static TheoryData<string, GenerateRequest, StatusCode, string> Cases() => new()
    {
        { "temperature NaN", new GenerateRequest { Text = "hi", Sampling = new SamplingParameters { Temperature = float.NaN } }, StatusCode.InvalidArgument, "temperature" },
        { "negative temperature", new GenerateRequest { Text = "hi", Sampling = new SamplingParameters { Temperature = -1 } }, StatusCode.InvalidArgument, "temperature" },
        { "top_p above 1", new GenerateRequest { Text = "hi", Sampling = new SamplingParameters { TopP = 1.5f } }, StatusCode.InvalidArgument, "top_p" },
        { "top_p zero", new GenerateRequest { Text = "hi", Sampling = new SamplingParameters { TopP = 0f } }, StatusCode.InvalidArgument, "top_p" },
        { "negative top_k", new GenerateRequest { Text = "hi", Sampling = new SamplingParameters { TopK = -1 } }, StatusCode.InvalidArgument, "top_k" },
        { "zero max_new_tokens", new GenerateRequest { Text = "hi", Sampling = new SamplingParameters { MaxNewTokens = 0 } }, StatusCode.InvalidArgument, "max_new_tokens" },
        { "empty prompt", new GenerateRequest { Text = "" }, StatusCode.InvalidArgument, "prompt" },
        { "token id out of vocabulary", new GenerateRequest { TokenIds = new TokenIds { Ids = { 1, 2, 999_999 } } }, StatusCode.InvalidArgument, "999999" },
        { "beyond the context length", new GenerateRequest { Text = "hi", Sampling = new SamplingParameters { MaxNewTokens = 100_000 } }, StatusCode.InvalidArgument, "max_new_tokens" },
        { "unknown model", new GenerateRequest { Model = "no-such-model", Text = "hi" }, StatusCode.NotFound, "no-such-model" },
        { "unknown session", new GenerateRequest { Text = "hi", SessionId = "no-such-session" }, StatusCode.NotFound, "no-such-session" },
    };

    [Fact]
    public async Task EveryBadRequestGetsItsStatusAndTheServerKeepsServing()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        foreach (var row in Cases())
        {
            var (name, request, status, mentions) = ((string)row[0], (GenerateRequest)row[1], (StatusCode)row[2], (string)row[3]);
            var error = await Assert.ThrowsAsync<RpcException>(() => ShardedGenerationTests.GenerateAsync(cluster, request));
            Assert.True(error.StatusCode == status && error.Status.Detail.Contains(mentions, StringComparison.OrdinalIgnoreCase),
                $"{name}: expected {status} mentioning '{mentions}'; got {error.StatusCode}: {error.Status.Detail}");
        }
        var ok = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "still up?", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3 } });
        Assert.NotEmpty(ok.Tokens);
    }
}
