using Cluster.Contracts.Api;
using Cluster.Contracts.Sessions;
using Cluster.Gateway.Auth;
using Cluster.Gateway.Models;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Scheduling;
using System.Diagnostics;
using Cluster.Gateway.Streaming;
using Cluster.Gateway.Telemetry;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.Services;

/// <summary>The public API: validates, tokenizes, hands Generate calls to a replica's scheduler and streams what it produces.</summary>
[BindServiceMethod(typeof(StrictRequestBinding), nameof(StrictRequestBinding.BindService))]
internal sealed partial class GenerationService(ModelCatalog catalog, IGrainFactory grains, IOptions<GatewayOptions> options) : Generation.GenerationBase
{
    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GenerateResponse> responseStream, ServerCallContext context)
    {
        var clock = RequestClock.StartNow(); // before the session lookup and tokenizing, which the client waits for too
        var cancellation = context.CancellationToken;
        var tenant = Tenant.Of(context);
        // Held until the method returns, however the stream ends (finished, failed, cancelled).
        using var streamSlot = tenant?.Limits.OpenStream();
        // The request's span: under the ASP.NET Core server span when that is traced; the root of its trace otherwise.
        using var span = GatewayTelemetry.Source.StartActivity("generate", ActivityKind.Internal);
        var model = await catalog.GetAsync(RequestFields.Model(request.Model), cancellation);
        var requestId = Guid.NewGuid().ToString("N");
        var turn = await SessionTurn.BeginAsync(grains, RequestFields.SessionId(request.SessionId), requestId, model, OwnerOf(tenant), options.Value.SessionTurnRenewPeriod);
        RunningSequence? submitted = null;
        try
        {
            var validated = GenerateRequestValidator.Validate(request, model.Name, model.Tokenizer, model.Limits, turn?.Snapshot.History.Length ?? 0, requestId, chat: model.Chat);
            var replica = turn is null ? model.LeastLoadedReplica() : model.Replica(turn.Snapshot.Replica);
            var sequence = new RunningSequence(validated, turn?.SessionId ?? requestId, turn?.Snapshot.History ?? [], turn?.Snapshot.CachedLength ?? 0,
                TextStream.Create(model.Tokenizer, validated.StopSequences), clock)
            {
                Deadline = context.Deadline == DateTime.MaxValue ? null : context.Deadline.ToUniversalTime(),
            };
            if (span is not null)
            {
                sequence.TraceContext = span.Context;
                TagRequest(span, sequence, replica.Index);
            }
            // Charged once the queue accepted it: a request refused for room costs its key no tokens.
            replica.Scheduler.Submit(sequence, tenant is null ? null : () => tenant.Limits.ChargeTokens(validated.PromptTokens.Count + validated.MaxNewTokens));
            submitted = sequence;
            using var cancel = cancellation.Register(() => replica.Scheduler.Cancel(sequence));
            await foreach (var response in sequence.Output.Reader.ReadAllAsync(cancellation))
            {
                await responseStream.WriteAsync(response, cancellation);
                span?.AddEvent(new ActivityEvent("stream.write", tags: new() { ["tokens"] = response.TokenIds.Count }));
            }
            span?.SetTag("generated_tokens", sequence.Generated);
        }
        catch (Exception error) when (span is not null && MarkFailed(span, error))
        {
            throw; // not reached: the filter only marks the span
        }
        finally
        {
            if (turn is not null)
            {
                await turn.EndAsync(submitted);
            }
        }
    }

    private static string OwnerOf(Tenant? tenant) => tenant?.Name ?? SessionOwner.Anonymous;

    private static void TagRequest(Activity span, RunningSequence sequence, int replica)
    {
        span.SetTag("model", sequence.Request.Model);
        span.SetTag("replica", replica);
        span.SetTag("request.id", sequence.Request.RequestId);
        span.SetTag("session.id", sequence.Request.SessionId);
        span.SetTag("prompt_tokens", sequence.Request.PromptTokens.Count);
        span.SetTag("max_new_tokens", sequence.Request.MaxNewTokens);
    }

    private static bool MarkFailed(Activity span, Exception error)
    {
        span.SetStatus(ActivityStatusCode.Error, error.Message);
        span.SetTag("error.type", error is RpcException rpc ? rpc.StatusCode.ToString() : error.GetType().Name);
        return false;
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
        await grains.GetGrain<ISessionGrain>(sessionId).Create(model.Name, model.LeastLoadedReplica().Index, OwnerOf(Tenant.Of(context)));
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
            snapshot = await grains.GetGrain<ISessionGrain>(request.SessionId).Delete(OwnerOf(Tenant.Of(context)));
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
        await model.Replica(snapshot.Replica).Pipeline.ReleaseAsync([request.SessionId], keep: false);
        return new DeleteSessionResponse();
    }
}
