using System.Diagnostics;
using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.LoadTest;

/// <summary>
/// Drives gRPC Generate against a gateway, one level at a time (<see cref="LevelDriver"/>). Greedy with ignore_eos, so
/// every request produces exactly its max_new_tokens tokens and runs are comparable. Every request carries a fresh W3C
/// trace context in its <c>traceparent</c> header.
/// </summary>
public sealed class GatewayLoad(Generation.GenerationClient client, string model)
{
    public Task<LevelResult> RunLevelAsync(LoadSettings settings, LoadLevel level, Action<int>? progress = null, CancellationToken cancellation = default) =>
        LevelDriver.RunAsync("gateway", settings, level, SendAsync, progress, cancellation);

    private async Task<RequestRecord> SendAsync(PlannedRequest planned, CancellationToken cancellation)
    {
        var request = new GenerateRequest
        {
            Model = model,
            AddSpecialTokens = false,
            Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = (uint)planned.MaxNewTokens, IgnoreEos = true },
        };
        if (planned.TokenIds is { } ids)
        {
            request.TokenIds = new TokenIds { Ids = { ids } };
        }
        else
        {
            request.Text = planned.Text;
        }
        var trace = TraceParent.CreateRandom();
        var headers = new Metadata { { TraceParent.HeaderName, trace.Header } };
        var clock = Stopwatch.StartNew();
        double? first = null;
        var last = 0.0;
        var gaps = new List<double>(planned.MaxNewTokens);
        var tokens = 0;
        var promptTokens = planned.PromptTokens;
        var cachedTokens = 0;
        double? hopOverhead = null;
        double? computePerStep = null;
        try
        {
            using var call = client.Generate(request, headers, cancellationToken: cancellation);
            await foreach (var response in call.ResponseStream.ReadAllAsync(cancellation))
            {
                if (response.Usage is { PromptTokens: > 0 } usage)
                {
                    promptTokens = (int)usage.PromptTokens;
                    cachedTokens = (int)usage.CachedPromptTokens;
                }
                if (response.Timings is { Steps: > 0 } timings && timings.Stages.Count > 0)
                {
                    // One stage: what the hand-over cost its device (its steps overlap the round trip); several: the round trip beyond compute.
                    hopOverhead = timings.Stages.Count == 1
                        ? timings.Stages[0].IdleSeconds / timings.Steps
                        : timings.Stages.Sum(s => s.OverheadSeconds) / (timings.Steps * timings.Stages.Count);
                    computePerStep = timings.Stages.Sum(s => s.ComputeSeconds) / timings.Steps;
                }
                if (response.TokenIds.Count == 0)
                {
                    continue;
                }
                var now = clock.Elapsed.TotalSeconds;
                if (first is null)
                {
                    first = now;
                }
                else
                {
                    gaps.Add(now - last);
                }
                last = now;
                tokens += response.TokenIds.Count;
            }
            return new RequestRecord(first ?? clock.Elapsed.TotalSeconds, clock.Elapsed.TotalSeconds, promptTokens, tokens, gaps, null, hopOverhead, computePerStep, trace.TraceId, cachedTokens);
        }
        catch (RpcException error)
        {
            return RequestRecord.Failed(clock.Elapsed.TotalSeconds, error.StatusCode.ToString(), trace.TraceId);
        }
    }
}
