using System.Net;
using Cluster.Contracts;
using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Cluster.Silo.Hosting;
using Cluster.Silo.Stages;
using Cluster.Testing;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Orleans.TestingHost;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// The whole product in one test process: N in-process silos hosting the stages of a tiny checkpoint written in
/// Hugging Face format, and the real gateway on a loopback Kestrel port, reached by a real gRPC client.
/// </summary>
internal sealed class ClusterUnderTest : IAsyncDisposable
{
    public const string ModelName = "tiny";

    private readonly TempDirectory _checkpoint;
    private readonly InProcessTestCluster _cluster;
    private readonly WebApplication _gateway;
    private readonly GrpcChannel _channel;
    private readonly List<WebApplication> _moreGateways = [];
    private readonly List<GrpcChannel> _moreChannels = [];
    private readonly IConfiguration _configuration;

    private ClusterUnderTest(TempDirectory checkpoint, InProcessTestCluster cluster, WebApplication gateway, GrpcChannel channel, int stages, string? metricsAddress,
        IConfiguration configuration)
    {
        _configuration = configuration;
        MetricsAddress = metricsAddress;
        _checkpoint = checkpoint;
        _cluster = cluster;
        _gateway = gateway;
        _channel = channel;
        Stages = stages;
        Client = new Generation.GenerationClient(channel);
    }

    public Generation.GenerationClient Client { get; }

    /// <summary>The gateway's channel, for the other services it hosts (health, reflection).</summary>
    public GrpcChannel Channel => _channel;

    /// <summary>The gateway's HTTP/1.1 side port (/metrics, /healthz, /ready) when started with one; else null.</summary>
    public string? MetricsAddress { get; }

    /// <summary>
    /// Starts the (first) gateway's stop as SIGTERM does: ApplicationStopping fires. Nothing here then stops the host,
    /// so its port keeps answering until the cluster is disposed: what the gateway says while it drains can be asked.
    /// </summary>
    public void BeginGatewayStop() => _gateway.Lifetime.StopApplication();

    /// <summary>Stages per replica.</summary>
    public int Stages { get; }

    public string CheckpointPath => _checkpoint.Path;

    public IGrainFactory Grains => _cluster.Client;

    public int SiloCount => _cluster.Silos.Count;

    /// <summary>Starts one more silo in the running cluster (a scale-out).</summary>
    public Task AddSiloAsync() => _cluster.StartAdditionalSiloAsync();

    public IStageGrain Stage(int stage, int replica = 0) => Grains.GetGrain<IStageGrain>(new StageKey(ModelName, replica, stage).ToString());

    /// <param name="stageClock">The silos' stage clock (session expiry, turn timeouts); null: the system clock.</param>
    /// <param name="metricsPort">Also listen on a second loopback port over HTTP/1.1, as the gateway's "Metrics" endpoint does.</param>
    /// <param name="apiKey">The key the start-up wait presents (for a gateway started with Gateway:Auth:Keys).</param>
    /// <param name="kestrelFromSettings">
    /// Listen where <paramref name="settings"/>' Kestrel:Endpoints say (as the real gateway does), not on a loopback port
    /// chosen here; <paramref name="clientHandler"/> then reaches it (e.g. trusting a test certificate).
    /// </param>
    public static async Task<ClusterUnderTest> StartAsync(
        int silos, int stages, TinyModelOptions? model = null, IDictionary<string, string?>? settings = null, TimeProvider? stageClock = null,
        bool metricsPort = false, string? apiKey = null, bool kestrelFromSettings = false, HttpMessageHandler? clientHandler = null,
        Action<string>? addCheckpointFiles = null)
    {
        var checkpoint = TinyCheckpoint.WriteTemporary((model ?? TinyModelOptions.Llama) with { Tokenizer = TinyTokenizer.Gpt2Bpe });
        addCheckpointFiles?.Invoke(checkpoint.Path);
        var configuration = new Dictionary<string, string?>
        {
            ["Cluster:Models:0:Name"] = ModelName,
            ["Cluster:Models:0:Path"] = checkpoint.Path,
            ["Cluster:Models:0:Stages"] = stages.ToString(),
            ["Cluster:Models:0:Replicas"] = "1",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }
        var config = new ConfigurationBuilder().AddInMemoryCollection(configuration).Build();

        var builder = new InProcessTestClusterBuilder((short)silos);
        builder.Options.AssumeHomogenousSilosForTesting = false; // or the test cluster skips our stage placement
        builder.ConfigureSilo((_, silo) =>
        {
            if (stageClock is not null)
            {
                silo.Services.AddKeyedSingleton(StageClock.Key, stageClock); // before UseClusterStages, which only adds the system clock if none is there
            }
            silo.UseClusterStages(config);
            silo.Configure<SiloMessagingOptions>(o => o.AssumeHomogenousSilosForTesting = false);
        });
        builder.ConfigureClient(client => client
            .Configure<ClientMessagingOptions>(o => o.MaxMessageBodySize = ClusterMessaging.MaxMessageBodySize)
            .AddActivityPropagation());
        var cluster = builder.Build();
        await cluster.DeployAsync();

        var gateway = await StartGatewayAsync(config, cluster.Client, checkpoint.Path, metricsPort, kestrelFromSettings);
        var addresses = gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.ToList(); // in Listen order
        var channel = GrpcChannel.ForAddress(addresses[0], new GrpcChannelOptions { HttpHandler = clientHandler });
        var underTest = new ClusterUnderTest(checkpoint, cluster, gateway, channel, stages, metricsPort ? addresses[1] : null, config);
        await underTest.WaitUntilServingAsync(apiKey);
        return underTest;
    }

    /// <summary>
    /// Starts one more gateway, with the same settings, on its own loopback port in front of the same silos (as
    /// several gateway pods share the stages); it stops with the cluster. Returns a client of it, once it serves.
    /// </summary>
    public async Task<Generation.GenerationClient> AddGatewayAsync()
    {
        var gateway = await StartGatewayAsync(_configuration, _cluster.Client, _checkpoint.Path, metricsPort: false, kestrelFromSettings: false);
        _moreGateways.Add(gateway);
        var address = gateway.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var channel = GrpcChannel.ForAddress(address);
        _moreChannels.Add(channel);
        var client = new Generation.GenerationClient(channel);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await client.ListModelsAsync(new ListModelsRequest(), cancellationToken: timeout.Token);
        return client;
    }

    private static async Task<WebApplication> StartGatewayAsync(IConfiguration config, IGrainFactory grains, string contentRoot, bool metricsPort, bool kestrelFromSettings)
    {
        // Content root in the checkpoint folder: the gateway's own appsettings.json (Kestrel on :5000) must not apply here.
        var web = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = contentRoot });
        web.Configuration.AddConfiguration(config);
        web.Logging.SetMinimumLevel(LogLevel.Warning);
        web.WebHost.ConfigureKestrel(kestrel =>
        {
            if (kestrelFromSettings)
            {
                return;
            }
            kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2);
            if (metricsPort)
            {
                kestrel.Listen(IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http1);
            }
        });
        web.Services.AddSingleton(grains);
        web.Services.AddClusterGateway(web.Configuration);
        var gateway = web.Build();
        gateway.MapClusterGateway();
        await gateway.StartAsync();
        return gateway;
    }

    /// <summary>Every stage of replica 0's own counts, in stage order.</summary>
    public Task<StageStatus[]> StatusesAsync() => Task.WhenAll(Enumerable.Range(0, Stages).Select(s => Stage(s).GetStatus()));

    /// <summary>
    /// Polls replica 0's stages until <paramref name="condition"/> holds for every one of them; fails after
    /// <paramref name="timeout"/> (default 30 s) naming <paramref name="what"/> and each stage's last counts. A poll, not
    /// a signal: the state lives in stage grains behind Orleans, which push nothing; each poll is one status call.
    /// </summary>
    public async Task<StageStatus[]> WaitForStagesAsync(Func<StageStatus, bool> condition, string what, TimeSpan? timeout = null)
    {
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        var statuses = await StatusesAsync();
        while (!statuses.All(condition))
        {
            if (limit.IsCancellationRequested)
            {
                Assert.Fail($"Timed out waiting for {what}; stages hold {Describe(statuses)}.");
            }
            await Task.Delay(10);
            statuses = await StatusesAsync();
        }
        return statuses;
    }

    public static string Describe(IEnumerable<StageStatus> statuses) =>
        string.Join("; ", statuses.Select((s, i) => $"stage {i}: {s.ActiveSessions} active + {s.IdleSessions} idle sessions, {s.KvBytes}/{s.KvBudgetBytes} bytes, {s.TokensComputed} tokens computed"));

    /// <summary>ListModels answers once every stage has loaded; bounded so a stuck load fails the test with its reason.</summary>
    private async Task WaitUntilServingAsync(string? apiKey)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await Client.ListModelsAsync(new ListModelsRequest(), headers: Bearer(apiKey), cancellationToken: timeout.Token);
    }

    /// <summary>The <c>authorization: Bearer</c> header for <paramref name="apiKey"/>; null (no header) for null.</summary>
    public static Grpc.Core.Metadata? Bearer(string? apiKey) => apiKey is null ? null : new() { { "authorization", $"Bearer {apiKey}" } };

    public async ValueTask DisposeAsync()
    {
        _channel.Dispose();
        _moreChannels.ForEach(c => c.Dispose());
        foreach (var more in _moreGateways)
        {
            await more.StopAsync();
            await more.DisposeAsync();
        }
        await _gateway.StopAsync();
        await _gateway.DisposeAsync();
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
        _checkpoint.Dispose();
    }
}
