using Cluster.Silo.Telemetry;

namespace Cluster.Silo.Tests.Telemetry;

/// <summary>Telemetry:MetricsUrl: a URL, a bare port (every interface), or off ("" or "0": tests, several silos per machine).</summary>
public sealed class MetricsUrlTests
{
    [Theory]
    [InlineData("http://127.0.0.1:9101", "http://127.0.0.1:9101")]
    [InlineData("9101", "http://0.0.0.0:9101")]
    [InlineData(" 9090 ", "http://0.0.0.0:9090")]
    [InlineData("", null)]
    [InlineData("0", null)]
    public void ParsesUrlPortOrOff(string setting, string? expected) => Assert.Equal(expected, SiloTelemetryExtensions.MetricsUrl(setting));
}
