using Cluster.Contracts.Stages;
using Cluster.Contracts.Api;
using Cluster.Contracts.Sessions;
using Cluster.Gateway.Auth;
using Cluster.Gateway.Models;
using Cluster.Gateway.Requests;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.Services;

/// <summary>The public gRPC API: Generate streams what <see cref="GenerationRunner"/> produces; tokenizer calls, models and sessions.</summary>
[BindServiceMethod(typeof(StrictRequestBinding), nameof(StrictRequestBinding.BindService))]
internal sealed partial class GenerationService(ModelCatalog catalog, IGrainFactory grains, GenerationRunner runner, IOptions<GatewayOptions> options)
    : Generation.GenerationBase
{
    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GenerateResponse> responseStream, ServerCallContext context)
    {
        var model = await catalog.GetAsync(RequestFields.Model(request.Model), context.CancellationToken);
        await runner.RunAsync(model, request, Tenant.Of(context), context.Deadline == DateTime.MaxValue ? null : context.Deadline.ToUniversalTime(), "grpc",
            (response, cancellation) => responseStream.WriteAsync(response, cancellation), context.CancellationToken);
    }

    public override async Task<EmbedResponse> Embed(EmbedRequest request, ServerCallContext context)
    {
        var model = await catalog.GetAsync(RequestFields.Model(request.Model), context.CancellationToken);
        return await EmbeddingRunner.RunAsync(model, request, Tenant.Of(context), context.CancellationToken);
    }

    public override async Task<InspectResponse> Inspect(InspectRequest request, ServerCallContext context)
    {
        var model = await catalog.GetAsync(RequestFields.Model(request.Model), context.CancellationToken);
        // A session is read under a turn, as Generate takes one: not while another request writes it, and not another key's.
        var turn = await SessionTurn.BeginAsync(grains, RequestFields.SessionId(request.SessionId), Guid.NewGuid().ToString("N"), model,
            GenerationRunner.OwnerOf(Tenant.Of(context)), options.Value.SessionTurnRenewPeriod);
        try
        {
            return await InspectRunner.RunAsync(model, request, turn, context.CancellationToken);
        }
        finally
        {
            if (turn is not null)
            {
                await turn.EndAsync(null); // left as it was
            }
        }
    }

    public override async Task<TokenizeResponse> Tokenize(TokenizeRequest request, ServerCallContext context)
    {
        var model = await catalog.GetAsync(RequestFields.Model(request.Model), context.CancellationToken);
        var response = new TokenizeResponse();
        foreach (var id in TokenizerRequestValidator.Tokenize(request, model.Tokenizer, model.Limits))
        {
            response.Tokens.Add(new Token { Id = id, Piece = model.Tokenizer.TokenPiece(id), Special = model.Tokenizer.IsSpecialToken(id) });
        }
        return response;
    }

    public override async Task<CountTokensResponse> CountTokens(CountTokensRequest request, ServerCallContext context)
    {
        var model = await catalog.GetAsync(RequestFields.Model(request.Model), context.CancellationToken);
        return new CountTokensResponse { Count = (uint)TokenizerRequestValidator.CountTokens(request, model.Tokenizer, model.Limits) };
    }

    public override async Task<DetokenizeResponse> Detokenize(DetokenizeRequest request, ServerCallContext context)
    {
        var model = await catalog.GetAsync(RequestFields.Model(request.Model), context.CancellationToken);
        return new DetokenizeResponse { Text = TokenizerRequestValidator.Detokenize(request, model.Tokenizer, model.Limits) };
    }

    public override async Task<CreateSessionResponse> CreateSession(CreateSessionRequest request, ServerCallContext context)
    {
        var model = await catalog.GetAsync(RequestFields.Model(request.Model), context.CancellationToken);
        var sessionId = Guid.NewGuid().ToString("N");
        await grains.GetGrain<ISessionGrain>(sessionId).Create(model.Name, model.LeastLoadedReplica().Index, GenerationRunner.OwnerOf(Tenant.Of(context)));
        return new CreateSessionResponse { SessionId = sessionId };
    }

    public override async Task<DeleteSessionResponse> DeleteSession(DeleteSessionRequest request, ServerCallContext context)
    {
        if (string.IsNullOrEmpty(RequestFields.SessionId(request.SessionId)))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "session_id is empty."));
        }
        SessionSnapshot? snapshot;
        try
        {
            snapshot = await grains.GetGrain<ISessionGrain>(request.SessionId).Delete(GenerationRunner.OwnerOf(Tenant.Of(context)));
        }
        catch (SessionOwnedByAnotherException other)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, other.Message));
        }
        if (snapshot is null)
        {
            throw new RpcException(new Status(StatusCode.NotFound, $"Session '{request.SessionId}' does not exist."));
        }
        var model = await catalog.GetAsync(snapshot.Model, context.CancellationToken);
        var replica = model.Replica(snapshot.Replica);
        replica.Scheduler.Prefixes?.Forget(request.SessionId);
        await replica.Pipeline.ReleaseAsync([request.SessionId], CacheRelease.Free);
        return new DeleteSessionResponse();
    }
}
