using System.Diagnostics;
using Cluster.Contracts.Api;
using Cluster.Contracts.Sessions;
using Cluster.Gateway.Auth;
using Cluster.Gateway.Models;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Scheduling;
using Cluster.Gateway.Streaming;
using Cluster.Gateway.Telemetry;
using Grpc.Core;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.Services;

/// <summary>
/// The one request path behind both front doors (gRPC Generate and the OpenAI-compatible HTTP API): the session
/// turn, validation, the replica's scheduler, the key's limits, the request's span; each response message goes to
/// <c>write</c> as the scheduler produces it. A refusal is an <see cref="RpcException"/> (INVALID_ARGUMENT naming the
/// field, RESOURCE_EXHAUSTED with a retry hint, ...): each front door turns it into its own error.
/// </summary>
internal sealed class GenerationRunner(IGrainFactory grains, IOptions<GatewayOptions> options)
{
    /// <param name="api">Which front door the request came through: the span's <c>api</c> tag.</param>
    /// <param name="deadline">The client's deadline (UTC); null: none.</param>
    public async Task RunAsync(ServedModel model, GenerateRequest request, Tenant? tenant, DateTime? deadline, string api,
        Func<GenerateResponse, CancellationToken, Task> write, CancellationToken cancellation)
    {
        var clock = RequestClock.StartNow(); // before the session lookup and tokenizing, which the client waits for too
        // Held until the method returns, however the stream ends (finished, failed, cancelled).
        using var streamSlot = tenant?.Limits.OpenStream();
        // The request's span: under the ASP.NET Core server span when that is traced; the root of its trace otherwise.
        using var span = GatewayTelemetry.Source.StartActivity("generate", ActivityKind.Internal);
        span?.SetTag("api", api);
        var requestId = Guid.NewGuid().ToString("N");
        var turn = await SessionTurn.BeginAsync(grains, RequestFields.SessionId(request.SessionId), requestId, model, OwnerOf(tenant), options.Value.SessionTurnRenewPeriod);
        RunningSequence? submitted = null;
        ReplicaScheduler? scheduler = null;
        var streamedToTheEnd = false;
        try
        {
            var history = turn?.Snapshot.History ?? [];
            var validated = GenerateRequestValidator.Validate(request, model.Name, model.Tokenizer, model.Limits, history, requestId, chat: model.Chat);
            var replica = turn is null ? model.ReplicaFor(validated.PromptTokens) : model.Replica(turn.Snapshot.Replica);
            // A conversation resent as messages may keep less than the whole history: the stages truncate to it.
            var kept = validated.HistoryKept;
            var sequence = new RunningSequence(validated, turn?.SessionId ?? requestId, history[..kept], Math.Min(turn?.Snapshot.CachedLength ?? 0, kept),
                TextStream.Create(model.Tokenizer, validated.StopSequences), clock)
            {
                Deadline = deadline,
            };
            if (span is not null)
            {
                sequence.TraceContext = span.Context;
                TagRequest(span, sequence, replica.Index);
            }
            // Charged once the queue accepted it: a request refused for room costs its key no tokens.
            replica.Scheduler.Submit(sequence, tenant is null ? null : () => tenant.Limits.ChargeTokens(validated.PromptTokens.Count + validated.MaxNewTokens));
            submitted = sequence;
            scheduler = replica.Scheduler;
            using var cancel = cancellation.Register(() => replica.Scheduler.Cancel(sequence));
            var answer = validated.Tools is null ? null : new System.Text.StringBuilder();
            await foreach (var response in sequence.Output.Reader.ReadAllAsync(cancellation))
            {
                if (answer is not null)
                {
                    ReadToolCalls(validated.Tools!, answer, response);
                }
                await write(response, cancellation);
                span?.AddEvent(new ActivityEvent("stream.write", tags: new() { ["tokens"] = response.TokenIds.Count }));
            }
            span?.SetTag("generated_tokens", sequence.Generated);
            span?.SetTag("prefix_cache.hit_tokens", sequence.CachedAtStart);
            streamedToTheEnd = true;
        }
        catch (Exception error) when (span is not null && MarkFailed(span, error))
        {
            throw; // not reached: the filter only marks the span
        }
        finally
        {
            if (!streamedToTheEnd && submitted is not null)
            {
                // A write that failed (the client's connection reset before the server saw it close) leaves the stream
                // without cancelling the request: stop it here, or it computes to its end for nobody.
                scheduler!.Cancel(submitted);
            }
            if (turn is not null)
            {
                await turn.EndAsync(submitted);
            }
        }
    }

    /// <summary>
    /// Keeps a chat answer's text, and on its last message, when the answer stopped (not at its length limit) with calls
    /// of the request's tools, puts them in <c>tool_calls</c> and finishes with TOOL_CALLS: the same for both doors.
    /// </summary>
    private static void ReadToolCalls(ChatTools tools, System.Text.StringBuilder answer, GenerateResponse response)
    {
        answer.Append(response.Text);
        if (response.FinishReason != FinishReason.Stop)
        {
            return;
        }
        var calls = tools.ReadCalls(answer.ToString());
        if (calls.Count > 0)
        {
            response.ToolCalls.AddRange(calls);
            response.FinishReason = FinishReason.ToolCalls;
        }
    }

    public static string OwnerOf(Tenant? tenant) => tenant?.Name ?? SessionOwner.Anonymous;

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
}
