using System.Diagnostics;
using System.Net;
using System.Text;
using System.Threading.Channels;
using Cluster.Contracts.Api;
using Cluster.Gateway.Tests.EndToEnd;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SamplingParameters = Cluster.Contracts.Api.SamplingParameters;

namespace Cluster.Gateway.Tests.Telemetry;

/// <summary>
/// The gateway exports its traces by OTLP when, and only when, the standard <c>OTEL_*</c> settings say so: a receiver
/// on loopback (speaking OTLP/HTTP's paths and content type, as a collector does) gets the request's spans. (Being in
/// this process, the receiver's own requests are traced too: harmless here.)
/// </summary>
[Collection(TelemetryCollection.Name)]
public sealed class OtlpExportTests
{
    [Fact]
    public async Task OtelEnvironmentSettingsAloneMakeTheGatewayExportItsSpansByOtlp()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Address,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_SERVICE_NAME"] = "gateway-under-otlp-test",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "100", // export within a tenth of a second instead of five
        };
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 1, settings: settings);

        await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "Hello", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 2 } });

        // OTLP bodies are protobuf: span names and resource attributes travel as plain UTF-8 strings inside them. The
        // request's spans may arrive over several exports.
        var exports = await receiver.WaitForAsync(["generate", "queue", "step"], TimeSpan.FromSeconds(30));
        Assert.All(exports, export => Assert.True(Contains(export.Body, "gateway-under-otlp-test"), $"An export carries no service.name from OTEL_SERVICE_NAME ({export.Body.Length} bytes)."));
        Assert.All(exports, export => Assert.StartsWith("application/x-protobuf", export.ContentType));
    }

    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    private sealed record OtlpExport(string Path, string ContentType, byte[] Body);

    /// <summary>Accepts OTLP/HTTP posts on a loopback port and hands each body to the test.</summary>
    private sealed class OtlpReceiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly Channel<OtlpExport> _exports;

        private OtlpReceiver(WebApplication app, Channel<OtlpExport> exports, string address) => (_app, _exports, Address) = (app, exports, address);

        public string Address { get; }

        public static async Task<OtlpReceiver> StartAsync()
        {
            var exports = Channel.CreateUnbounded<OtlpExport>();
            // An empty content root: the test folder holds the gateway's appsettings.json, whose Kestrel endpoints
            // (:5000, :9090) this receiver must not bind.
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = Directory.CreateTempSubdirectory("otlp-receiver").FullName });
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            app.MapPost("/v1/{signal}", async (HttpContext context) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                exports.Writer.TryWrite(new OtlpExport(context.Request.Path, context.Request.ContentType ?? "", body.ToArray()));
                return Results.Bytes([], "application/x-protobuf"); // an empty ExportTraceServiceResponse: all accepted
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            return new OtlpReceiver(app, exports, address);
        }

        /// <summary>Collects exports until every one of <paramref name="spanNames"/> has been seen in one of them.</summary>
        public async Task<List<OtlpExport>> WaitForAsync(string[] spanNames, TimeSpan timeout)
        {
            using var limit = new CancellationTokenSource(timeout);
            var received = new List<OtlpExport>();
            try
            {
                // UseOtlpExporter sends metrics too (/v1/metrics); the spans are what this test is about.
                await foreach (var export in _exports.Reader.ReadAllAsync(limit.Token).Where(e => e.Path == "/v1/traces"))
                {
                    received.Add(export);
                    if (spanNames.All(name => received.Any(r => Contains(r.Body, name))))
                    {
                        return received;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            var missing = spanNames.Where(name => !received.Any(r => Contains(r.Body, name)));
            Assert.Fail($"Within {timeout}, {received.Count} OTLP exports ({received.Sum(r => r.Body.Length)} bytes) arrived without spans named [{string.Join(", ", missing)}].");
            throw new UnreachableException();
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
