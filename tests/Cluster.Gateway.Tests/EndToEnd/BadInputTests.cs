using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>Every bad request gets its status and a message naming the field and the limit; the server keeps serving.</summary>
public sealed class BadInputTests
{
    /// <summary>Gateway:MaxNewTokensLimit for these tests: small, so a request can exceed it inside the context length.</summary>
    private const int MaxNewTokensLimit = 64;

    private const int ContextLength = 256;

    private static SamplingParameters Sampling(Action<SamplingParameters> set)
    {
        var sampling = new SamplingParameters();
        set(sampling);
        return sampling;
    }

    /// <summary>Name, request, status, and what the message must mention (each, case-insensitive).</summary>
    public static TheoryData<string, GenerateRequest, StatusCode, string[]> Cases() => new()
    {
        { "temperature NaN", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.Temperature = float.NaN) }, StatusCode.InvalidArgument, ["temperature", "NaN"] },
        { "negative temperature", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.Temperature = -1) }, StatusCode.InvalidArgument, ["temperature", ">= 0", "-1"] },
        { "infinite temperature", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.Temperature = float.PositiveInfinity) }, StatusCode.InvalidArgument, ["temperature", "finite"] },
        { "top_p above 1", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.TopP = 1.5f) }, StatusCode.InvalidArgument, ["top_p", "(0, 1]", "1.5"] },
        { "top_p zero", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.TopP = 0f) }, StatusCode.InvalidArgument, ["top_p", "(0, 1]"] },
        { "top_p negative", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.TopP = -0.5f) }, StatusCode.InvalidArgument, ["top_p", "-0.5"] },
        { "top_p NaN", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.TopP = float.NaN) }, StatusCode.InvalidArgument, ["top_p", "NaN"] },
        { "min_p above 1", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.MinP = 1.5f) }, StatusCode.InvalidArgument, ["sampling.min_p", "[0, 1]", "1.5"] },
        { "min_p NaN", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.MinP = float.NaN) }, StatusCode.InvalidArgument, ["min_p", "NaN"] },
        { "presence_penalty above 2", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.PresencePenalty = 3f) }, StatusCode.InvalidArgument, ["sampling.presence_penalty", "[-2, 2]", "got 3"] },
        { "logit_bias beyond the vocabulary", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.LogitBias[999_999] = 1f) }, StatusCode.InvalidArgument, ["sampling.logit_bias", "999999", "vocabulary"] },
        { "negative top_k", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.TopK = -1) }, StatusCode.InvalidArgument, ["top_k", ">= 0", "-1"] },
        { "zero max_new_tokens", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.MaxNewTokens = 0) }, StatusCode.InvalidArgument, ["max_new_tokens", $"{MaxNewTokensLimit}", "got 0"] },
        { "max_new_tokens above the server's limit", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.MaxNewTokens = MaxNewTokensLimit + 1) }, StatusCode.InvalidArgument, ["max_new_tokens", $"{MaxNewTokensLimit}", $"{MaxNewTokensLimit + 1}"] },
        { "max_new_tokens far above the context", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.MaxNewTokens = 100_000) }, StatusCode.InvalidArgument, ["max_new_tokens", "100000"] },
        { "empty prompt text", new GenerateRequest { Text = "" }, StatusCode.InvalidArgument, ["prompt", "empty"] },
        { "empty prompt token_ids", new GenerateRequest { TokenIds = new TokenIds() }, StatusCode.InvalidArgument, ["prompt", "token_ids"] },
        { "no prompt at all", new GenerateRequest(), StatusCode.InvalidArgument, ["prompt", "empty"] },
        { "token id out of vocabulary", new GenerateRequest { TokenIds = new TokenIds { Ids = { 1, 2, 999_999 } } }, StatusCode.InvalidArgument, ["999999", "vocabulary"] },
        { "negative token id", new GenerateRequest { TokenIds = new TokenIds { Ids = { 1, -3 } } }, StatusCode.InvalidArgument, ["-3", "vocabulary"] },
        {
            "prompt + max_new_tokens beyond the context length",
            new GenerateRequest { TokenIds = LongPrompt(200), AddSpecialTokens = false, Sampling = Sampling(s => s.MaxNewTokens = 60) },
            StatusCode.InvalidArgument, ["prompt (200 tokens)", "max_new_tokens (60)", "260", $"context length {ContextLength}"]
        },
        {
            "a prompt that fills the context, default max_new_tokens",
            new GenerateRequest { TokenIds = LongPrompt(ContextLength), AddSpecialTokens = false },
            StatusCode.InvalidArgument, [$"prompt ({ContextLength} tokens)", "no room", $"{ContextLength}"]
        },
        { "unknown model", new GenerateRequest { Model = "no-such-model", Text = "hi" }, StatusCode.NotFound, ["no-such-model", ClusterUnderTest.ModelName] },
        { "unknown session", new GenerateRequest { Text = "hi", SessionId = "no-such-session" }, StatusCode.NotFound, ["no-such-session"] },
        { "zero repetition_penalty", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.RepetitionPenalty = 0) }, StatusCode.InvalidArgument, ["repetition_penalty", "> 0"] },
        { "negative repetition_penalty", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.RepetitionPenalty = -2) }, StatusCode.InvalidArgument, ["repetition_penalty", "-2"] },
        { "top_logprobs above 20", new GenerateRequest { Text = "hi", TopLogprobs = 21 }, StatusCode.InvalidArgument, ["top_logprobs", "20", "21"] },
        { "too many stop sequences", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.Stop.AddRange(Enumerable.Range(0, 17).Select(i => $"stop{i}"))) }, StatusCode.InvalidArgument, ["stop", "17", "16"] },
        { "a stop sequence too long", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.Stop.Add(new string('x', 257))) }, StatusCode.InvalidArgument, ["stop[0]", "257", "256"] },
        { "an empty stop sequence", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.Stop.Add("")) }, StatusCode.InvalidArgument, ["stop[0]", "empty"] },
        { "stop token id out of vocabulary", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.StopTokenIds.Add(5000)) }, StatusCode.InvalidArgument, ["stop_token_ids", "5000"] },
        // Every float field with NaN and both infinities.
        { "temperature -Infinity", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.Temperature = float.NegativeInfinity) }, StatusCode.InvalidArgument, ["temperature", "-Infinity"] },
        { "top_p +Infinity", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.TopP = float.PositiveInfinity) }, StatusCode.InvalidArgument, ["top_p", "(0, 1]", "Infinity"] },
        { "top_p -Infinity", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.TopP = float.NegativeInfinity) }, StatusCode.InvalidArgument, ["top_p", "-Infinity"] },
        { "repetition_penalty NaN", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.RepetitionPenalty = float.NaN) }, StatusCode.InvalidArgument, ["repetition_penalty", "NaN"] },
        { "repetition_penalty +Infinity", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.RepetitionPenalty = float.PositiveInfinity) }, StatusCode.InvalidArgument, ["repetition_penalty", "finite", "Infinity"] },
        { "repetition_penalty -Infinity", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.RepetitionPenalty = float.NegativeInfinity) }, StatusCode.InvalidArgument, ["repetition_penalty", "-Infinity"] },
        // Sizes an attacker picks.
        { "thousands of stop sequences", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.Stop.AddRange(Enumerable.Range(0, 5000).Select(i => $"s{i}"))) }, StatusCode.InvalidArgument, ["sampling.stop", "5000", "at most 16"] },
        { "a 100,000-character stop sequence", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.Stop.Add(new string('x', 100_000))) }, StatusCode.InvalidArgument, ["stop[0]", "100000", "256"] },
        { "thousands of stop token ids", new GenerateRequest { Text = "hi", Sampling = Sampling(s => s.StopTokenIds.AddRange(Enumerable.Range(0, 5000).Select(i => i % 1000))) }, StatusCode.InvalidArgument, ["stop_token_ids", "5000", "at most 256"] },
        { "a prompt over the character limit", new GenerateRequest { Text = new string('a', 1_000_001) }, StatusCode.InvalidArgument, ["prompt text", "1000001", "1000000"] },
        { "a 10 MB prompt (over the gRPC receive limit)", new GenerateRequest { Text = new string('a', 10 * 1024 * 1024) }, StatusCode.ResourceExhausted, ["exceeds the maximum configured message size"] },
        { "an over-long session id", new GenerateRequest { Text = "hi", SessionId = new string('s', 10_000) }, StatusCode.InvalidArgument, ["session_id", "10000", "128"] },
        { "an over-long model name", new GenerateRequest { Text = "hi", Model = new string('m', 10_000) }, StatusCode.InvalidArgument, ["model", "10000", "256"] },
    };

    [Fact]
    public async Task EveryBadRequestGetsItsStatusAndTheServerKeepsServing()
    {
        await using var cluster = await StartAsync();
        var failures = new List<string>();
        foreach (var row in Cases())
        {
            var (name, request, status, mentions) = ((string)row[0], (GenerateRequest)row[1], (StatusCode)row[2], (string[])row[3]);
            try
            {
                var (tokens, _) = await ShardedGenerationTests.GenerateAsync(cluster, request);
                failures.Add($"{name}: expected {status}; it generated {tokens.Count} tokens.");
            }
            catch (RpcException error) when (error.StatusCode != status || mentions.Any(m => !error.Status.Detail.Contains(m, StringComparison.OrdinalIgnoreCase)))
            {
                failures.Add($"{name}: expected {status} mentioning [{string.Join(", ", mentions.Select(m => $"'{m}'"))}]; got {error.StatusCode}: {error.Status.Detail}");
            }
            catch (RpcException)
            {
                // As expected.
            }
        }
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        var ok = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "still up?", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3 } });
        Assert.NotEmpty(ok.Tokens);
    }

    [Fact]
    public async Task TheOtherCallsRefuseAnUnknownModelAndBadArgumentsToo()
    {
        await using var cluster = await StartAsync();
        var client = cluster.Client;
        var calls = new (string Name, Func<Task> Call, StatusCode Status, string Mentions)[]
        {
            ("Tokenize, unknown model", () => client.TokenizeAsync(new TokenizeRequest { Model = "no-such-model", Text = "hi" }).ResponseAsync, StatusCode.NotFound, "no-such-model"),
            ("CountTokens, unknown model", () => client.CountTokensAsync(new CountTokensRequest { Model = "no-such-model", Text = "hi" }).ResponseAsync, StatusCode.NotFound, "no-such-model"),
            ("Detokenize, unknown model", () => client.DetokenizeAsync(new DetokenizeRequest { Model = "no-such-model", TokenIds = { 1, 2 } }).ResponseAsync, StatusCode.NotFound, "no-such-model"),
            ("CreateSession, unknown model", () => client.CreateSessionAsync(new CreateSessionRequest { Model = "no-such-model" }).ResponseAsync, StatusCode.NotFound, "no-such-model"),
            ("DeleteSession, empty id", () => client.DeleteSessionAsync(new DeleteSessionRequest()).ResponseAsync, StatusCode.InvalidArgument, "session_id"),
            ("DeleteSession, unknown id", () => client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = "no-such-session" }).ResponseAsync, StatusCode.NotFound, "no-such-session"),
            ("Detokenize, id out of vocabulary", () => client.DetokenizeAsync(new DetokenizeRequest { TokenIds = { 1, 999_999 } }).ResponseAsync, StatusCode.InvalidArgument, "999999"),
            ("Tokenize, text over the character limit", () => client.TokenizeAsync(new TokenizeRequest { Text = new string('a', 1_000_001) }).ResponseAsync, StatusCode.InvalidArgument, "1000000"),
            ("CountTokens, over-long model name", () => client.CountTokensAsync(new CountTokensRequest { Model = new string('m', 10_000), Text = "hi" }).ResponseAsync, StatusCode.InvalidArgument, "model is 10000 characters"),
            ("DeleteSession, over-long id", () => client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = new string('s', 10_000) }).ResponseAsync, StatusCode.InvalidArgument, "session_id is 10000 characters"),
            ("CreateSession, over-long model name", () => client.CreateSessionAsync(new CreateSessionRequest { Model = new string('m', 10_000) }).ResponseAsync, StatusCode.InvalidArgument, "model is 10000 characters"),
        };
        var failures = new List<string>();
        foreach (var (name, call, status, mentions) in calls)
        {
            try
            {
                await call();
                failures.Add($"{name}: expected {status}; it succeeded.");
            }
            catch (RpcException error) when (error.StatusCode != status || !error.Status.Detail.Contains(mentions, StringComparison.OrdinalIgnoreCase))
            {
                failures.Add($"{name}: expected {status} mentioning '{mentions}'; got {error.StatusCode}: {error.Status.Detail}");
            }
            catch (RpcException)
            {
                // As expected.
            }
        }
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        Assert.NotEmpty((await client.TokenizeAsync(new TokenizeRequest { Text = "still up?" })).Tokens);
    }

    /// <summary>Raw request bytes the typed client cannot produce: name, bytes, status, what the message must mention.</summary>
    public static TheoryData<string, byte[], StatusCode, string[]> WireCases() => new()
    {
        { "invalid UTF-8 in the prompt text", [0x12, 0x03, (byte)'h', 0xFF, (byte)'i'], StatusCode.InvalidArgument, ["text", "UTF-8"] },
        { "a UTF-16 surrogate encoded in UTF-8 in the prompt", [0x12, 0x03, 0xED, 0xA0, 0x80], StatusCode.InvalidArgument, ["text", "UTF-8"] },
        { "invalid UTF-8 in a stop sequence", [0x12, 0x02, (byte)'h', (byte)'i', 0x2A, 0x04, 0x3A, 0x02, 0xC3, 0x28], StatusCode.InvalidArgument, ["sampling.stop", "UTF-8"] },
        { "invalid UTF-8 in the session id", [0x12, 0x02, (byte)'h', (byte)'i', 0x22, 0x02, 0xFF, 0xFE], StatusCode.InvalidArgument, ["session_id", "UTF-8"] },
        { "garbage: an invalid wire type", [0x0F, 0xFF, 0x13, 0x37], StatusCode.InvalidArgument, ["not a valid cluster.v1.GenerateRequest"] },
        { "garbage: a truncated varint", [0x28, 0x96], StatusCode.InvalidArgument, ["not a valid cluster.v1.GenerateRequest"] },
        { "a length beyond the end of the message", [0x12, 0x64, (byte)'h', (byte)'i'], StatusCode.InvalidArgument, ["not a valid cluster.v1.GenerateRequest"] },
        { "a nested message that is garbage", [0x12, 0x02, (byte)'h', (byte)'i', 0x2A, 0x02, 0xFF, 0xFF], StatusCode.InvalidArgument, ["not a valid cluster.v1.GenerateRequest"] },
    };

    [Fact]
    public async Task RequestBytesThatAreNotAValidMessageGetInvalidArgumentAndTheServerKeepsServing()
    {
        await using var cluster = await StartAsync();
        var bytes = Marshallers.Create(b => b, b => b);
        var generate = new Method<byte[], byte[]>(MethodType.ServerStreaming, "cluster.v1.Generation", "Generate", bytes, bytes);
        var tokenize = new Method<byte[], byte[]>(MethodType.Unary, "cluster.v1.Generation", "Tokenize", bytes, bytes);
        var invoker = cluster.Channel.CreateCallInvoker();
        var failures = new List<string>();
        async Task Expect(string name, Func<Task> call, StatusCode status, string[] mentions)
        {
            try
            {
                await call();
                failures.Add($"{name}: expected {status}; it succeeded.");
            }
            catch (RpcException error) when (error.StatusCode != status || mentions.Any(m => !error.Status.Detail.Contains(m, StringComparison.OrdinalIgnoreCase)))
            {
                failures.Add($"{name}: expected {status} mentioning [{string.Join(", ", mentions.Select(m => $"'{m}'"))}]; got {error.StatusCode}: {error.Status.Detail}");
            }
            catch (RpcException)
            {
                // As expected.
            }
        }

        foreach (var row in WireCases())
        {
            var (name, payload, status, mentions) = ((string)row[0], (byte[])row[1], (StatusCode)row[2], (string[])row[3]);
            await Expect(name, async () =>
            {
                using var call = invoker.AsyncServerStreamingCall(generate, null, new CallOptions(), payload);
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }
            }, status, mentions);
        }
        await Expect("Tokenize, invalid UTF-8 in the text", () => invoker.AsyncUnaryCall(tokenize, null, new CallOptions(), [0x12, 0x02, 0xFF, 0xFE]).ResponseAsync,
            StatusCode.InvalidArgument, ["text", "UTF-8"]);
        // A compressed request, 10 MB of prompt in a few kilobytes on the wire: grpc-dotnet applies the receive limit to
        // the inflated size and stops inflating there (checked: a 300 MB gzip bomb allocated about 11 MB in all).
        var gzip = new Metadata { { "grpc-internal-encoding-request", "gzip" } };
        await Expect("a gzip-compressed 10 MB prompt", () => cluster.Client.CountTokensAsync(new CountTokensRequest { Text = new string('a', 10 * 1024 * 1024) }, gzip).ResponseAsync,
            StatusCode.ResourceExhausted, ["exceeds the maximum configured message size"]);

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        var ok = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "still up?", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3 } });
        Assert.NotEmpty(ok.Tokens);
    }

    private static Task<ClusterUnderTest> StartAsync() => ClusterUnderTest.StartAsync(silos: 2, stages: 2, settings: new Dictionary<string, string?>
    {
        ["Gateway:MaxNewTokensLimit"] = MaxNewTokensLimit.ToString(),
    });

    private static TokenIds LongPrompt(int count)
    {
        var ids = new TokenIds();
        ids.Ids.AddRange(Enumerable.Range(0, count).Select(i => 10 + i % 500));
        return ids;
    }
}
