using System.Diagnostics;
using System.Text.RegularExpressions;
using Cluster.Testing;

namespace Cluster.Deployment.Tests;

/// <summary>
/// The compose topology as real processes on loopback: scripts/loopback-topology.sh starts Redis, two silo processes
/// and the gateway, runs the load tool for a bounded number of requests, and stops everything. The binaries are the
/// ones this test run built (the solution builds them all), so the script skips building.
/// </summary>
[Collection(LoopbackProcesses.Name)]
public sealed class LoopbackTopologyTests
{
    [Fact]
    public async Task RedisTwoSilosAndTheGatewayServeTheLoadToolWithoutErrorsAndStopCleanly()
    {
        var logs = Directory.CreateTempSubdirectory("loopback-topology-test").FullName;
        var script = new ProcessStartInfo("bash", [RepositoryRoot.PathOf("scripts/loopback-topology.sh")])
        {
            WorkingDirectory = RepositoryRoot.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["LOGS"] = logs, ["REQUESTS"] = "12", ["CONFIGURATION"] = ConfigurationOfThisBuild() },
        };
        if (BinariesBuilt(ConfigurationOfThisBuild()))
        {
            script.Environment["SKIP_BUILD"] = "1"; // built with the solution; building again would only race the other test assemblies
        }
        using var process = Process.Start(script)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"The loopback topology did not finish within 5 minutes. Logs in {logs}.");
        }
        var all = await output + await errors;

        Assert.True(process.ExitCode == 0, $"scripts/loopback-topology.sh exited {process.ExitCode} (load errors, a failed start, or processes left behind). Logs in {logs}.\n{Tail(all)}");
        // The models table the script prints: both stages of replica 0, each on its own silo address.
        var silos = Regex.Matches(all, @"^\s+0\s+[01]\s+\[\d+, \d+\)\s+(\S+)", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
        Assert.True(silos.Count == 2 && silos[0] != silos[1], $"Expected stages 0 and 1 on two different silos; the table showed [{string.Join(", ", silos)}].\n{Tail(all)}");
        Assert.Contains("loopback topology: exit 0", all);
        Assert.True(File.Exists(Path.Combine(logs, "load.json")), $"The load tool wrote no report of the gRPC front door to {logs}.");
        Assert.True(File.Exists(Path.Combine(logs, "load-openai.json")), $"The load tool wrote no report of the OpenAI front door to {logs}.");
    }

    private static bool BinariesBuilt(string configuration) =>
        new[] { "silo/Cluster.Silo/bin/{0}/net10.0/Cluster.Silo.dll", "gateway/Cluster.Gateway/bin/{0}/net10.0/cluster-gateway.dll",
                "gateway/Cluster.Client/bin/{0}/net10.0/cluster-client.dll", "tests/Cluster.LoadTest/bin/{0}/net10.0/cluster-loadtest.dll" }
            .All(path => File.Exists(RepositoryRoot.PathOf(string.Format(path, configuration))));

    private static string ConfigurationOfThisBuild() =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";

    private static string Tail(string text) => text.Length <= 4000 ? text : text[^4000..];
}
