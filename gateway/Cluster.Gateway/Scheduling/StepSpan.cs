using System.Diagnostics;
using Cluster.Contracts.Stages;
using Cluster.Gateway.Telemetry;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// The span of one scheduled micro-batch step. A step serves many requests, each with its own trace; one span per
/// step (not a copy per request) keeps the stage grains' spans, which nest under whatever span is current when the
/// gateway calls them, in one place. So: parent = the first request of the batch (its trace holds the step and the
/// stages' forward spans), links = every request of the batch (each trace can find the steps it took part in).
/// </summary>
internal static class StepSpan
{
    public static Activity? Start(StageKey replica, long stepId, IReadOnlyList<PlannedChunk> chunks)
    {
        if (!GatewayTelemetry.Source.HasListeners())
        {
            return null; // nothing below allocates when nobody traces
        }
        var parent = default(ActivityContext);
        List<ActivityLink>? links = null;
        var tokens = 0;
        foreach (var chunk in chunks)
        {
            tokens += chunk.Length;
            var context = chunk.Sequence.TraceContext;
            if (context == default)
            {
                continue;
            }
            if (parent == default)
            {
                parent = context;
            }
            (links ??= []).Add(new ActivityLink(context));
        }
        var step = GatewayTelemetry.Source.StartActivity("step", ActivityKind.Internal, parent, tags: null, links);
        if (step is { IsAllDataRequested: true })
        {
            step.SetTag("model", replica.Model);
            step.SetTag("replica", replica.Replica);
            step.SetTag("step.id", stepId);
            step.SetTag("batch.size", chunks.Count);
            step.SetTag("step.tokens", tokens);
            step.SetTag("step.prefill_chunks", chunks.Count(c => c.Length > 1));
            step.SetTag("step.prefix_hit_tokens", chunks.Sum(c => c.CopiedPrefixTokens));
        }
        return step;
    }
}
