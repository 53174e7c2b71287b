using System.Diagnostics;

namespace Cluster.LoadTest;

/// <summary>
/// A W3C trace context for one request (<c>traceparent: 00-{trace id}-{span id}-01</c>, sampled), sent as gRPC
/// metadata so the gateway's instrumentation continues the trace and a slow request can be found in Jaeger by its
/// trace id.
/// </summary>
public sealed record TraceParent(string TraceId, string SpanId)
{
    public const string HeaderName = "traceparent";

    public static TraceParent CreateRandom() => new(ActivityTraceId.CreateRandom().ToHexString(), ActivitySpanId.CreateRandom().ToHexString());

    public string Header => $"00-{TraceId}-{SpanId}-01";
}
