using System.Collections.Concurrent;
using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.LoadTest.Tests;

/// <summary>
/// A stand-in gateway: streams max_new_tokens tokens one message each, a millisecond apart, and fails every
/// <c>failEvery</c>-th call with RESOURCE_EXHAUSTED. Records each call's traceparent header and prompt.
/// </summary>
public sealed class FakeGeneration(int failEvery) : Generation.GenerationBase
{
    private int calls;

    public ConcurrentQueue<string?> TraceParents { get; } = new();

    public ConcurrentQueue<GenerateRequest> Requests { get; } = new();

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<GenerateResponse> responseStream, ServerCallContext context)
    {
        TraceParents.Enqueue(context.RequestHeaders.GetValue(TraceParent.HeaderName));
        Requests.Enqueue(request);
        if (Interlocked.Increment(ref calls) % failEvery == 0)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, "the fake is full"));
        }
        var count = (int)request.Sampling.MaxNewTokens;
        var promptTokens = request.PromptCase == GenerateRequest.PromptOneofCase.Text
            ? request.Text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length
            : request.TokenIds.Ids.Count;
        for (var i = 0; i < count; i++)
        {
            await Task.Delay(1, context.CancellationToken);
            var response = new GenerateResponse { Text = $" t{i}", TokenIds = { i + 1 } };
            if (i == count - 1)
            {
                response.FinishReason = FinishReason.Length;
                response.Usage = new Usage { PromptTokens = (uint)promptTokens, GeneratedTokens = (uint)count };
            }
            await responseStream.WriteAsync(response, context.CancellationToken);
        }
    }
}
