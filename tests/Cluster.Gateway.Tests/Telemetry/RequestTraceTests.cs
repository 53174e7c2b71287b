using System.Diagnostics;
using Cluster.Contracts.Api;
using Cluster.Gateway.Tests.EndToEnd;
using OpenTelemetry;
using OpenTelemetry.Trace;
using SamplingParameters = Cluster.Contracts.Api.SamplingParameters;

namespace Cluster.Gateway.Tests.Telemetry;

/// <summary>One request through the gateway and two in-process silos makes one trace: request → queue, steps → stage forwards → sampling.</summary>
[Collection(TelemetryCollection.Name)]
public sealed class RequestTraceTests
{
    [Fact]
    public async Task OneRequestIsOneTraceWithEveryStepAndBothStagesUnderIt()
    {
        var spans = new List<Activity>();
        var requestEnded = new SpanEnded("generate");
        // The silos are in-process, so this one provider sees the gateway's, the silos' and Orleans' spans. With
        // Microsoft.AspNetCore listened to, the gRPC receive is the trace's root (an unrecorded hosting activity
        // would otherwise be the parent, and the parent-based sampler drop the request's spans).
        using var tracing = Sdk.CreateTracerProviderBuilder()
            .AddSource("Microsoft.AspNetCore", "Cluster.Gateway", "Cluster.Silo", "Microsoft.Orleans.Application", "Microsoft.Orleans.Runtime")
            .AddInMemoryExporter(spans)
            .AddProcessor(requestEnded) // after the exporter: processors run in order, so the span is in the list when it fires
            .Build();
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        const int maxNew = 4;

        await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "Hello, world", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = maxNew } });
        var request = await requestEnded.WaitAsync(TimeSpan.FromSeconds(5), () => Snapshot(spans));

        var seen = Snapshot(spans);
        var inTrace = seen.Where(s => s.TraceId == request.TraceId).ToList();
        var byId = inTrace.ToDictionary(s => s.SpanId);
        string Listing() => string.Join("\n", seen.Select(s => $"{s.Source.Name} {s.OperationName} trace {s.TraceId} span {s.SpanId} parent {s.ParentSpanId}"));
        bool Under(Activity span, Activity ancestor)
        {
            for (var parent = span.ParentSpanId; byId.TryGetValue(parent, out var next); parent = next.ParentSpanId)
            {
                if (next.SpanId == ancestor.SpanId)
                {
                    return true;
                }
            }
            return false;
        }

        Assert.True(inTrace.Any(s => s.Source.Name == "Microsoft.AspNetCore" && s.SpanId == request.ParentSpanId), $"The request span is not under the gRPC receive span. Spans:\n{Listing()}");
        Assert.True(inTrace.Any(s => s.OperationName == "queue" && s.ParentSpanId == request.SpanId), $"No queue span under the request. Spans:\n{Listing()}");
        var steps = inTrace.Where(s => s.OperationName == "step").ToList();
        // One prefill step, then a decode step per token after the first: maxNew steps (the last may be skipped on EOS).
        Assert.True(steps.Count >= 1 && steps.All(s => s.ParentSpanId == request.SpanId), $"Expected step spans parented to the request. Spans:\n{Listing()}");
        Assert.All(steps, s => Assert.Equal(1, s.GetTagItem("batch.size")));
        foreach (var step in steps)
        {
            var forwards = inTrace.Where(s => s.OperationName == "stage.forward" && Under(s, step)).ToList();
            Assert.True(forwards.Select(s => s.GetTagItem("stage")).OrderBy(s => s).SequenceEqual(new object?[] { 0, 1 }),
                $"Step {step.GetTagItem("step.id")} should hold one forward span of stage 0 and one of stage 1. Spans:\n{Listing()}");
            var last = forwards.Single(s => Equals(s.GetTagItem("stage"), 1));
            Assert.True(inTrace.Any(s => s.OperationName == "sample" && s.ParentSpanId == last.SpanId), $"No sample span under the last stage's forward. Spans:\n{Listing()}");
        }
        Assert.Equal(steps.Count, inTrace.Count(s => s.OperationName == "stage.forward" && Equals(s.GetTagItem("stage"), 0)));
        Assert.True(request.Events.Count(e => e.Name == "stream.write") >= 1, $"No stream.write events on the request span. Spans:\n{Listing()}");
        Assert.True(seen.Where(s => s.Source.Name == "Cluster.Silo").All(s => s.TraceId == request.TraceId), $"Silo spans outside the request's trace. Spans:\n{Listing()}");
    }

    private static List<Activity> Snapshot(List<Activity> spans)
    {
        lock (spans)
        {
            return [.. spans];
        }
    }

    /// <summary>Completes with the first span named <c>operationName</c> to end; the test awaits it instead of polling the exported list.</summary>
    private sealed class SpanEnded(string operationName) : BaseProcessor<Activity>
    {
        private readonly TaskCompletionSource<Activity> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void OnEnd(Activity data)
        {
            if (data.OperationName == operationName)
            {
                _ended.TrySetResult(data);
            }
        }

        /// <summary>The matching span; fails after <paramref name="timeout"/> listing the spans that did end.</summary>
        public async Task<Activity> WaitAsync(TimeSpan timeout, Func<List<Activity>> seen)
        {
            try
            {
                return await _ended.Task.WaitAsync(timeout);
            }
            catch (TimeoutException)
            {
                Assert.Fail($"No \"{operationName}\" span ended within {timeout.TotalSeconds} s of the response; spans that ended: {string.Join(", ", seen().Select(s => s.OperationName))}");
                throw;
            }
        }
    }
}
