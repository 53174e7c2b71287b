using System.Diagnostics;
using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.LoadTest;

/// <summary>
/// Drives Generate against a gateway at a fixed concurrency: that many streams, each sending its next request as soon
/// as the previous one ends, until the level's request count is done. Greedy with ignore_eos, so every request
/// produces exactly max_new_tokens tokens and runs are comparable.
/// </summary>
public sealed class GatewayLoad(Generation.GenerationClient client, string model)
{
    public async Task<LevelResult> RunLevelAsync(LoadSettings settings, int concurrency, Action<int>? progress = null)
    {
        var total = settings.RequestsAt(concurrency);
        var prompts = PromptSet.Create(total + settings.WarmupRequests, settings.PromptTokens, settings.VocabularySize, settings.Seed);
        await Task.WhenAll(Enumerable.Range(0, settings.WarmupRequests).Select(i => SendAsync(prompts[total + i], settings)));

        var records = new RequestRecord[total];
        var next = -1;
        var done = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < total)
            {
                records[index] = await SendAsync(prompts[index], settings);
                progress?.Invoke(Interlocked.Increment(ref done));
            }
        }));
        return LevelResult.From("gateway", concurrency, clock.Elapsed.TotalSeconds, records);
    }

    private async Task<RequestRecord> SendAsync(int[] prompt, LoadSettings settings)
    {
        var request = new GenerateRequest
        {
            Model = model,
            TokenIds = new TokenIds { Ids = { prompt } },
            AddSpecialTokens = false,
            Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = (uint)settings.MaxNewTokens, IgnoreEos = true },
        };
        var clock = Stopwatch.StartNew();
        double? first = null;
        var last = 0.0;
        var gaps = new List<double>(settings.MaxNewTokens);
        var tokens = 0;
        double? hopOverhead = null;
        double? computePerStep = null;
        try
        {
            using var call = client.Generate(request);
            await foreach (var response in call.ResponseStream.ReadAllAsync())
            {
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
                if (response.Timings is { Steps: > 0 } timings && timings.Stages.Count > 0)
                {
                    hopOverhead = timings.Stages.Sum(s => s.OverheadSeconds) / (timings.Steps * timings.Stages.Count);
                    computePerStep = timings.Stages.Sum(s => s.ComputeSeconds) / timings.Steps;
                }
            }
            return new RequestRecord(first ?? clock.Elapsed.TotalSeconds, clock.Elapsed.TotalSeconds, prompt.Length, tokens, gaps, null, hopOverhead, computePerStep);
        }
        catch (RpcException error)
        {
            return RequestRecord.Failed(clock.Elapsed.TotalSeconds, error.StatusCode.ToString());
        }
    }
}
