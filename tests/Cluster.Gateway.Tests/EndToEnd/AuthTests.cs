using Cluster.Contracts.Api;
using Cluster.Gateway.Admission;
using Cluster.Testing;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// API keys (Gateway:Auth:Keys): who may call, whose sessions are whose, and each key's limits. A real gateway port
/// and client; three keys: A (one stream at a time), B (no limits) and C (100 tokens a minute).
/// </summary>
public sealed class AuthTests
{
    private static readonly string KeyA = new('a', 64);
    private static readonly string KeyB = new('b', 64);
    private static readonly string KeyC = new('c', 64);
    private const int TokensPerMinuteC = 100;

    /// <summary>Context long enough for <see cref="HoldOpen"/>.</summary>
    private static readonly TinyModelOptions Model = TinyModelOptions.Llama with { MaxPositionEmbeddings = 2048 };

    private static readonly SamplingParameters Short = new() { Temperature = 0, MaxNewTokens = 3 };

    [Fact]
    public async Task CallsWithoutAValidKeyAreUnauthenticatedBeforeTheRequestIsReadAndHealthStaysOpen()
    {
        await using var cluster = await StartAsync();
        var hi = new GenerateRequest { Text = "hi", Sampling = Short };
        var failures = new List<string>();
        await Refused(failures, "Generate without a key", () => GenerateAsync(cluster, hi, null), StatusCode.Unauthenticated, "missing bearer token");
        await Refused(failures, "Generate with a Basic header", () => GenerateAsync(cluster, hi, null, new Metadata { { "authorization", $"Basic {KeyA}" } }), StatusCode.Unauthenticated, "missing bearer token");
        await Refused(failures, "Generate with an empty bearer token", () => GenerateAsync(cluster, hi, null, new Metadata { { "authorization", "Bearer " } }), StatusCode.Unauthenticated, "missing bearer token");
        await Refused(failures, "Generate with a wrong key", () => GenerateAsync(cluster, hi, new string('x', 64)), StatusCode.Unauthenticated, "invalid API key");
        await Refused(failures, "Generate with a key's prefix", () => GenerateAsync(cluster, hi, KeyA[..32]), StatusCode.Unauthenticated, "invalid API key");
        await Refused(failures, "ListModels without a key", () => cluster.Client.ListModelsAsync(new ListModelsRequest()).ResponseAsync, StatusCode.Unauthenticated, "missing bearer token");
        await Refused(failures, "CreateSession with a wrong key", () => cluster.Client.CreateSessionAsync(new CreateSessionRequest(), ClusterUnderTest.Bearer("wrong")).ResponseAsync, StatusCode.Unauthenticated, "invalid API key");
        // Refused before the message is read: not RESOURCE_EXHAUSTED for its size.
        await Refused(failures, "a 10 MB prompt without a key", () => GenerateAsync(cluster, new GenerateRequest { Text = new string('a', 10 * 1024 * 1024) }, null), StatusCode.Unauthenticated, "missing bearer token");
        await Refused(failures, "reflection without a key", async () =>
        {
            using var call = new ServerReflection.ServerReflectionClient(cluster.Channel).ServerReflectionInfo();
            try
            {
                await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
            }
            catch (RpcException)
            {
                // The gateway may refuse the call before this write goes out (seen under load: the write fails as
                // CANCELLED); the call's own status is what the response stream reports next.
            }
            await call.ResponseStream.MoveNext(CancellationToken.None);
        }, StatusCode.Unauthenticated, "missing bearer token");
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));

        var health = await new Health.HealthClient(cluster.Channel).CheckAsync(new HealthCheckRequest());
        Assert.True(health.Status == HealthCheckResponse.Types.ServingStatus.Serving, $"Health without a key (probes send none): {health.Status}.");
        var tokens = await GenerateAsync(cluster, hi, KeyA);
        Assert.True(tokens.Count == 3, $"Generate with key A: {tokens.Count} tokens, expected 3.");
        var lowercaseScheme = await GenerateAsync(cluster, hi, null, new Metadata { { "authorization", $"bearer {KeyB}" } });
        Assert.True(lowercaseScheme.Count == 3, $"Generate with 'bearer' in lower case (HTTP auth schemes are case-insensitive): {lowercaseScheme.Count} tokens.");
    }

    [Fact]
    public async Task ASessionBelongsToTheKeyThatCreatedIt()
    {
        await using var cluster = await StartAsync();
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest(), ClusterUnderTest.Bearer(KeyA))).SessionId;
        var turn = new GenerateRequest { Text = "hello", SessionId = session, Sampling = Short };
        await GenerateAsync(cluster, turn, KeyA);

        var failures = new List<string>();
        await Refused(failures, "key B continues key A's session", () => GenerateAsync(cluster, turn, KeyB), StatusCode.PermissionDenied, "belongs to another API key");
        await Refused(failures, "key B deletes key A's session", () => cluster.Client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = session }, ClusterUnderTest.Bearer(KeyB)).ResponseAsync, StatusCode.PermissionDenied, "belongs to another API key");
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));

        // B's attempts neither blocked nor deleted it: A's next turn runs and A can delete it.
        var second = await GenerateAsync(cluster, new GenerateRequest { Text = " again", SessionId = session, Sampling = Short }, KeyA);
        Assert.True(second.Count == 3, $"Key A's second turn after key B's attempts: {second.Count} tokens, expected 3.");
        await cluster.Client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = session }, ClusterUnderTest.Bearer(KeyA));
        await Refused(failures, "key B deletes the deleted session", () => cluster.Client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = session }, ClusterUnderTest.Bearer(KeyB)).ResponseAsync, StatusCode.NotFound, session);
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public async Task EachKeysLimitsRefuseWithARetryHintAndAStreamsSlotIsFreedHoweverItEnds()
    {
        await using var cluster = await StartAsync();
        var hi = new GenerateRequest { Text = "hi", Sampling = Short };

        // Key A's one stream slot, held by a stream the client does not read.
        using var cancelHeld = new CancellationTokenSource();
        using var held = cluster.Client.Generate(HoldOpen(), ClusterUnderTest.Bearer(KeyA), cancellationToken: cancelHeld.Token);
        Assert.True(await held.ResponseStream.MoveNext(CancellationToken.None), "The held stream ended before its first message.");

        var second = await RefusedAsync(() => GenerateAsync(cluster, hi, KeyA), StatusCode.ResourceExhausted, "MaxConcurrentStreams");
        var hint = Overloaded.RetryAfter(second);
        Assert.True(hint > TimeSpan.Zero, $"Key A's second stream was refused without a retry hint: {second.Status.Detail} (trailers: {string.Join(", ", second.Trailers.Select(t => t.Key))}).");
        var other = await GenerateAsync(cluster, hi, KeyB);
        Assert.True(other.Count == 3, $"Key B while key A is at its limit: {other.Count} tokens.");

        // Cancelled: the slot comes back once the gateway has seen the cancellation.
        cancelHeld.Cancel();
        await WaitUntilAdmittedAsync(cluster, hi, KeyA, "key A's slot to be freed after its held stream was cancelled");
        // Failed (validation, after the slot was taken) and finished: the slot is back before the client sees the end.
        await RefusedAsync(() => GenerateAsync(cluster, new GenerateRequest { Text = "hi", Sampling = new SamplingParameters { Temperature = float.NaN } }, KeyA), StatusCode.InvalidArgument, "temperature");
        Assert.Equal(3, (await GenerateAsync(cluster, hi, KeyA)).Count);
        Assert.Equal(3, (await GenerateAsync(cluster, hi, KeyA)).Count);

        // Key C: 100 tokens a minute, charged as prompt + max_new_tokens.
        var costly = new GenerateRequest { Text = "hi", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 60 } };
        await GenerateAsync(cluster, costly, KeyC);
        var spent = await RefusedAsync(() => GenerateAsync(cluster, costly, KeyC), StatusCode.ResourceExhausted, "TokensPerMinute");
        var wait = Overloaded.RetryAfter(spent);
        Assert.True(wait > TimeSpan.Zero && wait <= TimeSpan.FromMinutes(1), $"Key C over its tokens per minute: retry hint {wait?.ToString() ?? "none"}, expected within a minute ({spent.Status.Detail}).");
        var never = await RefusedAsync(() => GenerateAsync(cluster, new GenerateRequest { Text = "hi", Sampling = new SamplingParameters { MaxNewTokens = 500 } }, KeyC), StatusCode.ResourceExhausted, $"at most {TokensPerMinuteC} per minute");
        Assert.True(Overloaded.RetryAfter(never) is null, $"A request that alone exceeds a minute's tokens can never pass, so it gets no retry hint; got {Overloaded.RetryAfter(never)}.");
        Assert.Equal(3, (await GenerateAsync(cluster, hi, KeyB)).Count);
    }

    /// <summary>
    /// A stream that stays open while its client does not read: about 300 bytes per token (20 alternatives with
    /// their pieces) over 2000 tokens is more than HTTP/2 flow control (64 KB window) plus Kestrel's buffers let
    /// the gateway write ahead, so its writes wait and the call holds its slot until cancelled.
    /// </summary>
    private static GenerateRequest HoldOpen() => new()
    {
        Text = "hold",
        Logprobs = true,
        TopLogprobs = 20,
        Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 2000, IgnoreEos = true },
    };

    private static Task<ClusterUnderTest> StartAsync() => ClusterUnderTest.StartAsync(silos: 1, stages: 1, model: Model, apiKey: KeyB, settings: new Dictionary<string, string?>
    {
        ["Gateway:Auth:Keys:0:Name"] = "team-a",
        ["Gateway:Auth:Keys:0:Key"] = KeyA,
        ["Gateway:Auth:Keys:0:MaxConcurrentStreams"] = "1",
        ["Gateway:Auth:Keys:1:Name"] = "team-b",
        ["Gateway:Auth:Keys:1:Key"] = KeyB,
        ["Gateway:Auth:Keys:2:Name"] = "team-c",
        ["Gateway:Auth:Keys:2:Key"] = KeyC,
        ["Gateway:Auth:Keys:2:TokensPerMinute"] = TokensPerMinuteC.ToString(),
    });

    private static async Task<List<int>> GenerateAsync(ClusterUnderTest cluster, GenerateRequest request, string? key, Metadata? headers = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var call = cluster.Client.Generate(request, headers ?? ClusterUnderTest.Bearer(key), cancellationToken: timeout.Token);
        var tokens = new List<int>();
        await foreach (var response in call.ResponseStream.ReadAllAsync(timeout.Token))
        {
            tokens.AddRange(response.TokenIds);
        }
        return tokens;
    }

    /// <summary>
    /// Retries a Generate refused with RESOURCE_EXHAUSTED, after the retry hint each refusal carries (as a client
    /// should), until it is admitted; fails after 30 s naming <paramref name="what"/>.
    /// </summary>
    private static async Task WaitUntilAdmittedAsync(ClusterUnderTest cluster, GenerateRequest request, string key, string what)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            try
            {
                await GenerateAsync(cluster, request, key);
                return;
            }
            catch (RpcException refused) when (refused.StatusCode == StatusCode.ResourceExhausted)
            {
                if (limit.IsCancellationRequested)
                {
                    Assert.Fail($"Timed out waiting for {what}; still refused: {refused.Status.Detail}");
                }
                var hint = Overloaded.RetryAfter(refused);
                await Task.Delay(hint is { } after && after > TimeSpan.Zero ? after : TimeSpan.FromMilliseconds(50));
            }
        }
    }

    private static async Task<RpcException> RefusedAsync(Func<Task> call, StatusCode status, string mention)
    {
        try
        {
            await call();
        }
        catch (RpcException error)
        {
            Assert.True(error.StatusCode == status && error.Status.Detail.Contains(mention, StringComparison.OrdinalIgnoreCase),
                $"Expected {status} mentioning '{mention}'; got {error.StatusCode}: {error.Status.Detail}");
            return error;
        }
        Assert.Fail($"Expected {status} mentioning '{mention}'; the call succeeded.");
        throw new InvalidOperationException("not reached");
    }

    private static async Task Refused(List<string> failures, string name, Func<Task> call, StatusCode status, string mention)
    {
        try
        {
            await call();
            failures.Add($"{name}: expected {status}; it succeeded.");
        }
        catch (RpcException error) when (error.StatusCode != status || !error.Status.Detail.Contains(mention, StringComparison.OrdinalIgnoreCase))
        {
            failures.Add($"{name}: expected {status} mentioning '{mention}'; got {error.StatusCode}: {error.Status.Detail}");
        }
        catch (RpcException)
        {
            // As expected.
        }
    }
}
