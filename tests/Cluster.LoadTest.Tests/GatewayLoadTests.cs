using System.Net;
using System.Text.RegularExpressions;
using Cluster.Contracts.Api;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cluster.LoadTest.Tests;

/// <summary>GatewayLoad end to end against <see cref="FakeGeneration"/> on a loopback Kestrel port, over real gRPC.</summary>
public sealed class GatewayLoadTests : IAsyncLifetime
{
    private readonly FakeGeneration fake = new(failEvery: 4);
    private WebApplication? server;
    private GrpcChannel? channel;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(fake);
        server = builder.Build();
        server.MapGrpcService<FakeGeneration>();
        await server.StartAsync();
        var address = server.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        channel = GrpcChannel.ForAddress(address);
    }

    public async Task DisposeAsync()
    {
        channel?.Dispose();
        if (server is not null)
        {
            await server.StopAsync();
            await server.DisposeAsync();
        }
    }

    private GatewayLoad Load() => new(new Generation.GenerationClient(channel!), "fake");

    private static LoadSettings Settings(LoadLevel level, int requests, IReadOnlyList<string>? texts = null) => new(
        [level], requests, DurationSeconds: null, LengthRange.Fixed(6), LengthRange.Fixed(4), WarmupRequests: 0, VocabularySize: 1000, Seed: 9,
        texts, new ServiceLevelObjectives(EndToEndMs: 60_000), SlowestRequests: 20);

    [Fact]
    public async Task A_concurrency_level_records_tokens_errors_by_status_and_trace_ids()
    {
        var settings = Settings(LoadLevel.AtConcurrency(3), 12);
        var progress = new List<int>();
        var result = await Load().RunLevelAsync(settings, settings.Levels[0], done => { lock (progress) { progress.Add(done); } });

        // 12 calls, every 4th fails: 9 good, 3 RESOURCE_EXHAUSTED.
        Assert.True(result.Completed == 9 && result.Errors == 3, $"completed {result.Completed}, errors {string.Join(", ", result.ErrorsByStatus)}; expected 9 and ResourceExhausted: 3");
        Assert.Equal(new Dictionary<string, int> { ["ResourceExhausted"] = 3 }, result.ErrorsByStatus);
        Assert.Equal(3, result.Concurrency);
        Assert.Equal(9 * 4, result.OutputTokens);
        Assert.Equal(9 * 6, result.PromptTokens);
        Assert.Equal(9, result.TimeToFirstToken.Count);
        Assert.Equal(9, result.TimePerOutputToken.Count);
        Assert.Equal(9 * 3, result.InterTokenLatency.Count);
        Assert.Equal(9, result.GoodRequests);
        Assert.Equal(Enumerable.Range(1, 12), progress.Order());
        AssertTraceContext(result, sent: 12);
        Assert.True(fake.Requests.All(r => r.TokenIds.Ids.Count == 6 && r.Sampling.MaxNewTokens == 4 && r.Sampling.IgnoreEos),
            "every request must carry 6 prompt token ids, max_new_tokens 4 and ignore_eos");
    }

    [Fact]
    public async Task A_rate_level_sends_its_requests_with_text_prompts()
    {
        var settings = Settings(LoadLevel.AtRate(500), 8, texts: ["one two three", "four five"]);
        var result = await Load().RunLevelAsync(settings, settings.Levels[0]);

        Assert.True(result.Completed == 6 && result.Errors == 2, $"completed {result.Completed}, errors {string.Join(", ", result.ErrorsByStatus)}; expected 6 and 2");
        Assert.Equal(500, result.Rate);
        Assert.Null(result.Concurrency);
        Assert.Equal(6 * 4, result.OutputTokens);
        Assert.True(fake.Requests.All(r => r.PromptCase == GenerateRequest.PromptOneofCase.Text), "prompts from a file must be sent as text");
        // The prompt token counts come back in the usage: 2 or 3 words each.
        Assert.InRange(result.PromptTokens, 6 * 2, 6 * 3);
        AssertTraceContext(result, sent: 8);
    }

    [Fact]
    public async Task A_duration_bound_stops_sending()
    {
        var settings = Settings(LoadLevel.AtConcurrency(2), 1) with { Requests = null, DurationSeconds = 1.0 };
        var result = await Load().RunLevelAsync(settings, settings.Levels[0]);

        Assert.True(fake.Requests.Count >= 2, $"only {fake.Requests.Count} requests were sent in 1 s at concurrency 2 (both streams start at once)");
        Assert.Equal(fake.Requests.Count, result.Completed + result.Errors);
    }

    private void AssertTraceContext(LevelResult result, int sent)
    {
        var headers = fake.TraceParents.ToList();
        Assert.Equal(sent, headers.Count);
        var invalid = headers.Where(h => h is null || !Regex.IsMatch(h, "^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")).ToList();
        Assert.True(invalid.Count == 0, $"traceparent headers missing or malformed: {string.Join(", ", invalid.Select(h => h ?? "(none)"))}");
        var traceIds = headers.Select(h => h!.Split('-')[1]).ToHashSet();
        Assert.Equal(sent, traceIds.Count);
        Assert.Equal(sent, result.Slowest.Count);
        var unknown = result.Slowest.Where(s => s.TraceId is null || !traceIds.Contains(s.TraceId)).ToList();
        Assert.True(unknown.Count == 0, $"slowest requests with trace ids the server never saw: {string.Join(", ", unknown.Select(s => s.TraceId ?? "(none)"))}");
        Assert.Equal(result.Errors, result.Slowest.Count(s => s.Error == "ResourceExhausted"));
    }
}
