using System.Diagnostics;
using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Cluster.Gateway.Auth;
using Cluster.Gateway.Models;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Telemetry;
using Grpc.Core;

namespace Cluster.Gateway.Services;

/// <summary>
/// Embeddings behind both front doors: the inputs go through one replica's stages hop by hop as one batch (each
/// stage's <see cref="IStageGrain.Embed"/>), until the stage holding the requested layer answers with the pooled
/// vectors, holding room for the inputs' positions in the replica's KV budget while it runs
/// (<see cref="Scheduling.ReplicaScheduler.ReserveAsync"/>). Nothing stays on the stages: no session, no cache, so
/// nothing to release or replay; a stage that is
/// unreachable fails the call with UNAVAILABLE (the client retries; the next call finds the stage re-activated).
/// </summary>
internal static class EmbeddingRunner
{
    public static async Task<EmbedResponse> RunAsync(ServedModel model, EmbedRequest request, Tenant? tenant, CancellationToken cancellation)
    {
        using var span = GatewayTelemetry.Source.StartActivity("embed", ActivityKind.Internal);
        var replica = model.LeastLoadedReplica();
        var validated = EmbedRequestValidator.Validate(request, model.Name, model.Tokenizer, model.Limits, replica.Descriptions[0].LayerCount);
        span?.SetTag("model", model.Name);
        span?.SetTag("inputs", validated.Inputs.Length);
        span?.SetTag("prompt_tokens", validated.PromptTokens);
        await using var room = await replica.Scheduler.ReserveAsync(validated.PromptTokens, model.Name, cancellation);
        tenant?.Limits.ChargeTokens(validated.PromptTokens);

        HiddenStates? hidden = null;
        for (var s = 0; s < replica.Stages.Count; s++)
        {
            cancellation.ThrowIfCancellationRequested();
            EmbedResult result;
            try
            {
                result = await replica.Stages[s].Embed(new EmbedBatch(validated.Inputs, hidden, validated.Layer, validated.Pool, validated.Normalize));
            }
            catch (ArgumentException refused)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"stage {s} refused the inputs: {refused.Message}"));
            }
            catch (Exception failed) when (failed is not RpcException)
            {
                span?.SetStatus(ActivityStatusCode.Error, failed.Message);
                throw new RpcException(new Status(StatusCode.Unavailable, $"stage {s} of model '{model.Name}' did not answer ({failed.GetType().Name}); retry"));
            }
            if (result.Vectors is { } vectors)
            {
                var response = new EmbedResponse { Dimensions = (uint)(vectors.Length > 0 ? vectors[0].Length : 0), PromptTokens = (uint)validated.PromptTokens, Layer = (uint)validated.Layer };
                for (var i = 0; i < vectors.Length; i++)
                {
                    response.Embeddings.Add(new Embedding { Values = { vectors[i] }, Tokens = (uint)validated.Inputs[i].Length });
                }
                return response;
            }
            hidden = result.Hidden;
        }
        throw new RpcException(new Status(StatusCode.Internal, $"no stage of model '{model.Name}' pooled layer {validated.Layer}"));
    }
}
