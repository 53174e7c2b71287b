using System.Text.RegularExpressions;

namespace Cluster.LoadTest.Tests;

public sealed class TraceParentTests
{
    [Fact]
    public void The_header_is_a_valid_sampled_w3c_traceparent_and_ids_are_fresh()
    {
        var traces = Enumerable.Range(0, 1000).Select(_ => TraceParent.CreateRandom()).ToList();
        foreach (var trace in traces)
        {
            Assert.Matches(new Regex("^00-[0-9a-f]{32}-[0-9a-f]{16}-01$"), trace.Header);
            Assert.StartsWith($"00-{trace.TraceId}-{trace.SpanId}-", trace.Header);
            Assert.NotEqual(new string('0', 32), trace.TraceId);
            Assert.NotEqual(new string('0', 16), trace.SpanId);
        }
        Assert.Equal(traces.Count, traces.Select(t => t.TraceId).Distinct().Count());
        // What the gateway's instrumentation will do with it: .NET's own parser accepts it.
        Assert.True(System.Diagnostics.ActivityContext.TryParse(traces[0].Header, null, out var context), $"ActivityContext rejected '{traces[0].Header}'");
        Assert.Equal(traces[0].TraceId, context.TraceId.ToHexString());
        Assert.True(context.TraceFlags.HasFlag(System.Diagnostics.ActivityTraceFlags.Recorded), "the sampled flag must be set");
    }
}
