using Cluster.Contracts.Api;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Cluster.Client.Tests;

/// <summary>
/// A gateway that answers from a script, on a real Kestrel port (h2c): Generate streams three tokens, and a prompt
/// of "fail" is INVALID_ARGUMENT, one of "busy" RESOURCE_EXHAUSTED with a retry-after-ms trailer. Records the last
/// GenerateRequest it received.
/// </summary>
internal sealed class FakeGateway : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeGateway(WebApplication app, FakeGenerationService service)
    {
        _app = app;
        Service = service;
    }

    public FakeGenerationService Service { get; }

    public string Address => _app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();

    public static async Task<FakeGateway> StartAsync()
    {
        var service = new FakeGenerationService();
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(service);
        WebApplication app = builder.Build();
        app.MapGrpcService<FakeGenerationService>();
        await app.StartAsync();
        return new FakeGateway(app, service);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

internal sealed class FakeGenerationService : Generation.GenerationBase
{
    public GenerateRequest? LastRequest { get; private set; }

    /// <summary>The authorization header of the last Generate call; null when it had none.</summary>
    public string? LastAuthorization { get; private set; }

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GenerateResponse> responseStream, ServerCallContext context)
    {
        LastRequest = request;
        LastAuthorization = context.RequestHeaders.GetValue("authorization");
        if (request.Text == "fail")
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "sampling.top_p must be in (0, 1]; got 1.5"));
        }
        if (request.Text == "busy")
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, "The queue is full (2 waiting requests); retry later."), new Metadata { { "retry-after-ms", "1500" } });
        }

        (string Text, int Id)[] tokens = [("오늘", 101), ("", 102), (" 맑음 👍", 103)];
        for (int i = 0; i < tokens.Length; i++)
        {
            var response = new GenerateResponse { Text = tokens[i].Text, TokenIds = { tokens[i].Id }, RequestId = "req-1", SessionId = request.SessionId };
            if (request.Logprobs)
            {
                // The first token's piece as a gateway sends it; the others without one, as a gateway before pieces did.
                response.Logprobs.Add(new TokenLogprobs { TokenId = tokens[i].Id, Logprob = -0.5f, Piece = i == 0 ? tokens[i].Text : "", Top = { new TokenLogprob { TokenId = 7, Logprob = -1.25f, Piece = "\n" } } });
            }

            if (i == tokens.Length - 1)
            {
                response.FinishReason = FinishReason.Length;
                response.Usage = new Usage { PromptTokens = 5, GeneratedTokens = 3, CachedPromptTokens = 2 };
                response.Timings = new Timings { QueueSeconds = 0.001, TimeToFirstTokenSeconds = 0.010, TotalSeconds = 0.030 };
            }

            await responseStream.WriteAsync(response);
        }
    }

    public override Task<CreateSessionResponse> CreateSession(CreateSessionRequest request, ServerCallContext context) =>
        Task.FromResult(new CreateSessionResponse { SessionId = "new-session-1" });

    public override Task<CountTokensResponse> CountTokens(CountTokensRequest request, ServerCallContext context) =>
        Task.FromResult(new CountTokensResponse { Count = (uint)request.Text.Length });

    /// <summary>"오늘 👍" as two tokens: BOS (covering nothing) and one per word, the emoji's bytes split over two.</summary>
    public override Task<InspectResponse> Inspect(InspectRequest request, ServerCallContext context)
    {
        var view = new Tokenization { Utf8Bytes = 11 };
        view.Tokens.Add(new InspectedToken { Id = 1, Piece = "<s>", Special = true, Text = "<s>" });
        view.Tokens.Add(new InspectedToken { Id = 500, Piece = "▁오늘", Text = "오늘", ByteStart = 0, ByteEnd = 6, CharStart = 0, CharEnd = 2 });
        view.Tokens.Add(new InspectedToken { Id = 7, Piece = "<0x20>", Text = " ", ByteStart = 6, ByteEnd = 7, CharStart = 2, CharEnd = 3 });
        view.Words.Add(new TextSpan { Text = "오늘", CharStart = 0, CharEnd = 2 });
        view.Words.Add(new TextSpan { Text = "👍", CharStart = 3, CharEnd = 4 });
        foreach (var (c, i) in new[] { "오", "늘", " ", "👍" }.Select((c, i) => (c, i)))
        {
            view.Characters.Add(new TextSpan { Text = c, CharStart = (uint)i, CharEnd = (uint)i + 1 });
        }
        LastInspect = request;
        var response = new InspectResponse { Tokenization = view };
        var layer = new LogitLensLayer { Layer = 1, Stage = 0, Silo = "S127.0.0.1:11111:1", HiddenNorm = 2.5f };
        layer.Top.Add(new TokenProbability { Id = 9, Piece = "Ġyes", Text = " yes", Logprob = -0.5f, Probability = 0.75f });
        if (request.LensAllPositions)
        {
            foreach (var (text, p) in new[] { "<s>", " 오늘", " yes" }.Select((t, p) => (t, p)))
            {
                var position = new PositionLens { Position = (uint)p, HiddenNorm = 1 };
                position.Top.Add(new TokenProbability { Id = 9, Text = text, Probability = 0.5f });
                layer.Positions.Add(position);
            }
        }
        response.LogitLens.Add(layer);
        response.NextToken.AddRange(layer.Top);
        var attention = new AttentionLayer { Layer = 1, Stage = 0, Silo = "S127.0.0.1:11111:1", Heads = 1, FirstRow = 0, Rows = 3, Columns = 3 };
        attention.Weights.AddRange([1f, 0f, 0f, 0.5f, 0.5f, 0f, 0.1f, 0.2f, 0.7f]);
        response.Attention.Add(attention);
        var embedding = new TokenEmbedding { Id = 500, Norm = 1.25f };
        embedding.Nearest.Add(new TokenNeighbour { Id = 500, Text = "오늘", Similarity = 1f });
        embedding.Nearest.Add(new TokenNeighbour { Id = 501, Text = "내일", Similarity = 0.5f });
        response.Embedding.Add(embedding);
        var rotary = new RotaryPositions { Base = 10000, HeadDim = 4, Positions = 5 };
        rotary.Frequencies.AddRange([1f, 0.01f]);
        rotary.Distances.AddRange([0u, 1u, 2u, 3u, 4u]);
        rotary.Similarity.AddRange([1f, 0.77f, 0.29f, -0.2f, -0.33f]);
        response.Positions = new PositionEncoding { Rotary = rotary };
        if (request.Sampling is not null)
        {
            response.Sampler = new SamplerSteps { Candidates = 1024, KeptAfterMinP = 1024, KeptAfterTopK = 40, KeptAfterTopP = 1 };
            response.Sampler.DrawnFrom.Add(new TokenProbability { Id = 9, Text = " yes", Probability = 1f });
        }
        return Task.FromResult(response);
    }

    public InspectRequest? LastInspect { get; private set; }

    public override Task<DeleteSessionResponse> DeleteSession(DeleteSessionRequest request, ServerCallContext context) =>
        request.SessionId == "missing"
            ? throw new RpcException(new Status(StatusCode.NotFound, "session missing not found"))
            : Task.FromResult(new DeleteSessionResponse());
}
