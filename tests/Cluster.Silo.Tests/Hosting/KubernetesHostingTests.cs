using Cluster.Silo.Hosting;
using Microsoft.Extensions.Configuration;

namespace Cluster.Silo.Tests.Hosting;

/// <summary>Kubernetes hosting (which talks to the Kubernetes API) turns on inside a pod only, and can be switched off there.</summary>
public sealed class KubernetesHostingTests
{
    private static readonly Dictionary<string, string?> Pod = new()
    {
        ["KUBERNETES_SERVICE_HOST"] = "10.0.0.1",
        ["POD_NAME"] = "silo-0",
        ["POD_IP"] = "10.1.2.3",
    };

    [Fact]
    public void InsideAPodWithTheDownwardApiVariablesItIsOn() => Assert.True(PodHostingExtensions.InPod(Configuration(Pod)));

    [Theory]
    [InlineData("KUBERNETES_SERVICE_HOST")]
    [InlineData("POD_NAME")]
    [InlineData("POD_IP")]
    public void WithoutAnyOneOfTheVariablesItStaysOff(string missing)
    {
        var settings = new Dictionary<string, string?>(Pod) { [missing] = null };
        Assert.False(PodHostingExtensions.InPod(Configuration(settings)), $"Kubernetes hosting would start without {missing}.");
    }

    [Fact]
    public void ConfigurationSwitchesItOffInsideAPod()
    {
        var settings = new Dictionary<string, string?>(Pod) { ["Cluster:KubernetesHosting"] = "false" };
        Assert.False(PodHostingExtensions.InPod(Configuration(settings)));
    }

    private static IConfiguration Configuration(Dictionary<string, string?> settings) => new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
}
