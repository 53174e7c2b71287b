using System.Text.RegularExpressions;

namespace Cluster.Deployment.Tests;

/// <summary>
/// scripts/cluster-local.sh as a user runs it (see <see cref="LoopbackCluster"/>), with API keys configured on the
/// gateway and none given to the script: its readiness probe must not need a key (it used ListModels without one, so a
/// keyed cluster never became ready and stopped after 180 s), and SIGTERM must stop every process it started and exit 0 (it printed "A process
/// exited" and exited 1).
/// </summary>
[Collection(LoopbackProcesses.Name)]
public sealed partial class ClusterLocalScriptTests
{
    private const string ApiKey = "0123456789abcdef0123456789abcdef-loopback";

    [Fact]
    public async Task WithApiKeysTheClusterBecomesReadyAndSigtermStopsItCleanlyWithExitZero()
    {
        await using var cluster = await LoopbackCluster.StartAsync(portOffset: 70, silos: 1, apiKey: ApiKey);

        // Ready although the script holds no key (it probes the gateway's /ready); its keyed ListModels call then
        // fails, and it says how to give it a key instead of failing.
        Assert.True(cluster.Output.Contains("set CLUSTER_API_KEY", StringComparison.Ordinal) && !StageRow().IsMatch(cluster.Output),
            $"Expected the hint to set CLUSTER_API_KEY and no models table (the script has no key). Logs in {cluster.Logs}.\n{cluster.Output}");

        int exit = await cluster.TerminateScriptAsync(TimeSpan.FromSeconds(60));

        string output = cluster.Output;
        Assert.True(exit == 0, $"scripts/cluster-local.sh exited {exit} after SIGTERM; expected 0. Logs in {cluster.Logs}.\n{output}");
        Assert.False(output.Contains("A process exited", StringComparison.Ordinal), $"SIGTERM was reported as a process exiting on its own.\n{output}");
        Assert.True(output.Contains("Stopping 2 processes", StringComparison.Ordinal), $"The script did not say it stopped its silo and gateway.\n{output}");
        // Disposing checks that no silo, gateway or Redis process of this cluster is left behind.
    }

    [GeneratedRegex(@"^\s+0\s+0\s+\[\d+, \d+\)\s+\S+", RegexOptions.Multiline)]
    private static partial Regex StageRow();
}
