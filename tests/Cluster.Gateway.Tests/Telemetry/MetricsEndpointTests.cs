using System.Globalization;
using Cluster.Contracts.Api;
using Cluster.Gateway.Tests.EndToEnd;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Cluster.Gateway.Tests.Telemetry;

/// <summary>
/// After traffic, the gateway's /metrics (scraped over HTTP/1.1 on its side port) serves the vLLM-style request
/// metrics, and the silos' meter the per-stage ones. In-process silos have no side port each (the test cluster
/// hosts them in one process), so the silo side is read through an in-memory exporter on the same meter
/// the silo's /metrics serves.
/// </summary>
[Collection(TelemetryCollection.Name)]
public sealed class MetricsEndpointTests
{
    private static readonly string[] GatewayHistograms =
    [
        "cluster_time_to_first_token_seconds", "cluster_inter_token_latency_seconds", "cluster_e2e_request_latency_seconds",
        "cluster_request_queue_time_seconds", "cluster_batch_size",
    ];

    [Fact]
    public async Task GatewayMetricsEndpointAndSiloMeterReportTheTraffic()
    {
        var siloMetrics = new List<MetricSnapshot>();
        using var siloMeter = Sdk.CreateMeterProviderBuilder().AddMeter("Cluster.Silo").AddInMemoryExporter(siloMetrics).Build();
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2, metricsPort: true);
        using var http = new HttpClient { BaseAddress = new Uri(cluster.MetricsAddress!) };
        Assert.Equal("ok", await http.GetStringAsync("/healthz"));
        Assert.Equal("ready", await http.GetStringAsync("/ready"));

        // A session parks its caches after the turn, so the stages' KV usage stays above zero.
        var session = await cluster.Client.CreateSessionAsync(new CreateSessionRequest { Model = ClusterUnderTest.ModelName });
        await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "Hello, world", SessionId = session.SessionId, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 5 } });
        await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "The quick brown fox", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 5 } });

        var text = await http.GetStringAsync("/metrics");
        foreach (var histogram in GatewayHistograms)
        {
            Assert.True(Sum(text, histogram + "_count") > 0, $"{histogram}_count is not above 0 in /metrics:\n{text}");
        }
        Assert.True(Sum(text, "cluster_prompt_tokens_total") > 0, $"cluster_prompt_tokens_total is 0 or missing:\n{text}");
        Assert.True(Sum(text, "cluster_generation_tokens_total") >= 10, $"cluster_generation_tokens_total below 10:\n{text}");
        Assert.Contains("cluster_num_requests_running", text);
        Assert.Contains("cluster_num_requests_waiting", text);

        siloMeter.ForceFlush();
        var forward = siloMetrics.Last(m => m.Name == "cluster_stage_forward_seconds");
        var forwardCounts = forward.MetricPoints.ToDictionary(p => Stage(p), p => p.GetHistogramCount());
        Assert.True(forwardCounts.GetValueOrDefault("0") > 0 && forwardCounts.GetValueOrDefault("1") > 0,
            $"Forward counts per stage: {string.Join(", ", forwardCounts.Select(kv => $"{kv.Key}={kv.Value}"))}");
        // Process-wide counters of the CPU kernel team (the tiny test models may never split a call: present, not positive).
        foreach (var name in new[] { "cluster_kernel_calls_total", "cluster_kernel_wait_seconds_total" })
        {
            Assert.True(siloMetrics.Any(m => m.Name == name), $"The silo's meter exports no {name}; it has: {string.Join(", ", siloMetrics.Select(m => m.Name).Distinct())}");
        }
        var usage = siloMetrics.Last(m => m.Name == "cluster_kv_cache_usage_perc").MetricPoints.Select(p => (Stage: Stage(p), Value: p.GetGaugeLastValueDouble())).ToList();
        Assert.True(usage.Any(u => u.Stage == "0" && u.Value is > 0 and <= 1) && usage.Any(u => u.Stage == "1" && u.Value is > 0 and <= 1),
            $"KV usage per stage: {string.Join(", ", usage.Select(u => $"{u.Stage}={u.Value}"))}");
    }

    private static string Stage(MetricPoint point)
    {
        foreach (var tag in point.Tags)
        {
            if (tag.Key == "stage")
            {
                return tag.Value?.ToString() ?? "";
            }
        }
        return "";
    }

    /// <summary>The sum of every series of <paramref name="name"/> in a Prometheus text exposition.</summary>
    private static double Sum(string exposition, string name) => exposition.Split('\n')
        .Where(line => line.StartsWith(name + "{", StringComparison.Ordinal) || line.StartsWith(name + " ", StringComparison.Ordinal))
        .Sum(line => double.Parse(line[(line.LastIndexOf('}') is var brace and >= 0 ? brace + 1 : name.Length)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture));
}
