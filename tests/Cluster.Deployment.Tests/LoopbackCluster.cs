using System.Diagnostics;
using System.Text;
using Cluster.Testing;

namespace Cluster.Deployment.Tests;

/// <summary>
/// A real cluster on loopback for fault tests: redis-server for membership, then scripts/cluster-local.sh with REDIS
/// set (SILOS silo processes, each stage on its own silo, and the gateway), on port bases of their own. Started ready
/// (the script's "Cluster ready" line), silo process ids read from the script's pid files; disposing stops
/// everything and fails if any process it started is left behind.
/// </summary>
internal sealed class LoopbackCluster : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _redis;
    private readonly Process _script;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _portOffset;

    private LoopbackCluster(int portOffset, int silos, string logs, string siloArgs, string? apiKey)
    {
        _portOffset = portOffset;
        Silos = silos;
        Logs = logs;
        _redis = Start(new ProcessStartInfo("redis-server", ["--port", $"{RedisPort}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]),
            Path.Combine(logs, "redis.log"));
        var script = new ProcessStartInfo("bash", [RepositoryRoot.PathOf("scripts/cluster-local.sh")])
        {
            WorkingDirectory = RepositoryRoot.Path,
            Environment =
            {
                ["REDIS"] = $"127.0.0.1:{RedisPort}", ["SILOS"] = $"{silos}", ["STAGES"] = $"{silos}", ["LOGS"] = logs,
                ["GRPC_PORT"] = $"{5600 + portOffset}", ["METRICS_PORT"] = $"{9700 + portOffset}", ["OPENAI_PORT"] = $"{8600 + portOffset}", ["SILO_METRICS_BASE"] = $"{9701 + portOffset}",
                ["SILO_PORT_BASE"] = $"{SiloPortBase}", ["ORLEANS_GATEWAY_PORT_BASE"] = $"{30600 + portOffset}",
                ["SURVIVE_SILO_EXIT"] = "1", ["CONFIGURATION"] = Configuration,
                // Timestamped logs: what a failed run's logs must show is when each step of the failover happened.
                ["SILO_ARGS"] = $"--Logging:Console:TimestampFormat=HH:mm:ss.fff {siloArgs}",
                ["GATEWAY_ARGS"] = "--Logging:Console:TimestampFormat=HH:mm:ss.fff"
                    + (apiKey is null ? "" : $" --Gateway:Auth:Keys:0:Name=loopback --Gateway:Auth:Keys:0:Key={apiKey}"),
            },
        };
        script.Environment.Remove("CLUSTER_API_KEY"); // the script's own calls carry no key unless a test gives one
        if (BinariesBuilt)
        {
            script.Environment["SKIP_BUILD"] = "1"; // built with the solution; building again would only race other test assemblies
        }
        _script = Start(script, null);
    }

    public int Silos { get; }

    public string Logs { get; }

    /// <summary>
    /// The last <paramref name="lines"/> log entries at warning level or above of the gateway and every silo, for a failure
    /// message: CI keeps the console, not the log folder, so a failure that only says where the logs were says nothing there.
    /// </summary>
    public string LogSummary(int lines = 20)
    {
        var summary = new System.Text.StringBuilder();
        foreach (var name in new[] { "gateway" }.Concat(Enumerable.Range(0, Silos).Select(i => $"silo-{i}")))
        {
            var path = Path.Combine(Logs, $"{name}.log");
            if (!File.Exists(path))
            {
                continue;
            }
            // An entry is its header line ("HH:mm:ss.fffwarn: category[id]") and the indented lines under it.
            var entries = new List<string>();
            foreach (var line in File.ReadLines(path))
            {
                if (line.StartsWith(' ') && entries.Count > 0)
                {
                    entries[^1] += "\n" + line;
                }
                else
                {
                    entries.Add(line);
                }
            }
            var serious = entries.Where(e => e.Contains("warn:", StringComparison.Ordinal) || e.Contains("fail:", StringComparison.Ordinal) || e.Contains("crit:", StringComparison.Ordinal)).TakeLast(lines).ToList();
            summary.Append($"--- {name}.log: {entries.Count} entries, the last {serious.Count} at warning or above, then its last entry:\n");
            foreach (var entry in serious)
            {
                summary.Append(entry.Length > 600 ? entry[..600] + " …" : entry).Append('\n');
            }
            summary.Append(entries.Count > 0 ? entries[^1] : "(empty)").Append('\n');
        }
        return summary.ToString();
    }

    public string GatewayAddress => $"http://127.0.0.1:{5600 + _portOffset}";

    /// <summary>The gateway's HTTP/1.1 side port: /metrics, /healthz, /ready.</summary>
    public string GatewayMetricsAddress => $"http://127.0.0.1:{9700 + _portOffset}";

    /// <summary>Silo i listens on SiloPortBase + i: how a silo address in ListModels maps to its process.</summary>
    public int SiloPortBase => 11600 + _portOffset;

    private int RedisPort => 6600 + _portOffset;

    /// <summary>
    /// Starts a cluster whose ports are the loopback topology's bases (5600, 8600, 9700, 11600, 30600, 6600) plus
    /// <paramref name="portOffset"/>, so it collides neither with scripts/loopback-topology.sh nor with another offset.
    /// <paramref name="siloArgs"/>: settings added to every silo's command line. <paramref name="apiKey"/>: the gateway
    /// requires this key (Gateway:Auth:Keys); the script itself is not given it.
    /// </summary>
    public static async Task<LoopbackCluster> StartAsync(int portOffset, int silos, string siloArgs = "", string? apiKey = null)
    {
        var logs = Directory.CreateTempSubdirectory($"failover-{portOffset}-").FullName;
        var cluster = new LoopbackCluster(portOffset, silos, logs, siloArgs, apiKey);
        try
        {
            await cluster._ready.Task.WaitAsync(StartTimeout);
        }
        catch (TimeoutException)
        {
            await cluster.DisposeAsync();
            Assert.Fail($"The cluster did not print \"Cluster ready\" within {StartTimeout.TotalSeconds} s. Logs in {logs}.\n{cluster.Output}");
        }
        catch (InvalidOperationException failed)
        {
            await cluster.DisposeAsync();
            Assert.Fail($"{failed.Message} Logs in {logs}.\n{cluster.Output}");
        }
        return cluster;
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Polls silo <paramref name="silo"/>'s /ready until its side port stops answering (the process is going or gone).
    /// Returns once the first answer came (so a fault sent next finds it watching), with the task of the distinct
    /// answers in the order seen ("200 ready", "503 stopping", ...): whether it turned not-ready before it went.
    /// </summary>
    public async Task<Task<List<string>>> WatchReadinessAsync(int silo, TimeSpan timeout)
    {
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = PollReadinessAsync(silo, timeout, first);
        await Task.WhenAny(first.Task, watch);
        return watch;
    }

    private async Task<List<string>> PollReadinessAsync(int silo, TimeSpan timeout, TaskCompletionSource first)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var url = $"http://127.0.0.1:{9701 + _portOffset + silo}/ready";
        var seen = new List<string>();
        using var deadline = new CancellationTokenSource(timeout);
        while (!deadline.IsCancellationRequested)
        {
            string answer;
            try
            {
                using var response = await http.GetAsync(url, deadline.Token);
                answer = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(deadline.Token)}";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                break; // refused or cut: the side port is closed
            }
            if (seen.Count == 0 || seen[^1] != answer)
            {
                seen.Add(answer);
            }
            first.TrySetResult();
            await Task.Delay(10);
        }
        return seen;
    }

    /// <summary>
    /// Sends SIGTERM to scripts/cluster-local.sh itself (as a service manager or Ctrl+C would stop it) and waits up to
    /// <paramref name="timeout"/> for it to exit; returns its exit code. Fails naming the wait when it does not exit.
    /// </summary>
    public async Task<int> TerminateScriptAsync(TimeSpan timeout)
    {
        using (var term = Process.Start(new ProcessStartInfo("kill", ["-TERM", $"{_script.Id}"]))!)
        {
            await term.WaitForExitAsync();
        }
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await _script.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"scripts/cluster-local.sh did not exit within {timeout.TotalSeconds} s of SIGTERM. Logs in {Logs}.\n{Output}");
        }
        return _script.ExitCode;
    }

    public int SiloProcessId(int silo) => int.Parse(File.ReadAllText(Path.Combine(Logs, $"silo-{silo}.pid")).Trim());

    /// <summary>Sends a signal to silo <paramref name="silo"/>'s process (KILL or TERM) and returns at once.</summary>
    public void Signal(int silo, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [$"-{signal}", $"{SiloProcessId(silo)}"]))!;
        kill.WaitForExit();
        Assert.True(kill.ExitCode == 0, $"kill -{signal} {SiloProcessId(silo)} (silo {silo}) exited {kill.ExitCode}.");
    }

    /// <summary>Waits for silo <paramref name="silo"/>'s process to exit; returns when it was seen gone (a <see cref="Stopwatch"/> timestamp).</summary>
    public async Task<long> WaitForSiloExitAsync(int silo, TimeSpan timeout)
    {
        var procDirectory = $"/proc/{SiloProcessId(silo)}";
        using var deadline = new CancellationTokenSource(timeout);
        // Not our child (the script's): no exit event to wait on, so watch its /proc entry.
        while (Directory.Exists(procDirectory) && !IsZombie(procDirectory))
        {
            if (deadline.IsCancellationRequested)
            {
                Assert.Fail($"Silo {silo} (pid {SiloProcessId(silo)}) did not exit within {timeout.TotalSeconds} s. Logs in {Logs}.");
            }
            await Task.Delay(20);
        }
        return Stopwatch.GetTimestamp();
    }

    private static bool IsZombie(string procDirectory)
    {
        try
        {
            return File.ReadAllText(Path.Combine(procDirectory, "stat")).Split(')')[^1].TrimStart().StartsWith('Z');
        }
        catch (IOException)
        {
            return true; // gone between the two checks
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(_script);
        await StopAsync(_redis);
        // Everything this cluster started must be gone: a process left behind is a failure, not a detail.
        var left = LeftBehind();
        if (left.Count > 0)
        {
            foreach (var pid in left)
            {
                try
                {
                    Process.GetProcessById(pid).Kill();
                }
                catch (ArgumentException)
                {
                    // exited meanwhile
                }
            }
            Assert.Fail($"Processes still running after the cluster stopped: {string.Join(", ", left)}. Logs in {Logs}.");
        }
    }

    private List<int> LeftBehind()
    {
        var markers = new[] { $"--Cluster:PrimarySiloPort={SiloPortBase}", $"--Cluster:GatewayPort={30600 + _portOffset} ", $"--port {RedisPort}" };
        return Directory.GetDirectories("/proc").Select(d => int.TryParse(Path.GetFileName(d), out var pid) ? pid : 0).Where(pid => pid > 0)
            .Where(pid => CommandLine(pid) is { } line && markers.Any(m => (line + " ").Contains(m, StringComparison.Ordinal))).ToList();
    }

    private static string? CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static async Task StopAsync(Process process)
    {
        if (!process.HasExited)
        {
            using (var term = Process.Start(new ProcessStartInfo("kill", ["-TERM", $"{process.Id}"]))!)
            {
                await term.WaitForExitAsync();
            }
            using var deadline = new CancellationTokenSource(StopTimeout);
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        process.Dispose();
    }

    private Process Start(ProcessStartInfo info, string? logFile)
    {
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnLine(e.Data, logFile);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data, logFile);
        process.Exited += (_, _) => _ready.TrySetException(new InvalidOperationException($"{info.FileName} exited before the cluster was ready."));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private void OnLine(string? line, string? logFile)
    {
        if (line is null)
        {
            return;
        }
        if (logFile is not null)
        {
            return; // redis: its own log is enough
        }
        lock (_output)
        {
            _output.AppendLine(line);
        }
        if (line.StartsWith("Cluster ready", StringComparison.Ordinal))
        {
            _ready.TrySetResult();
        }
    }

    private static string Configuration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}") ? "Debug" : "Release";

    private static bool BinariesBuilt =>
        new[] { "silo/Cluster.Silo/bin/{0}/net10.0/Cluster.Silo.dll", "gateway/Cluster.Gateway/bin/{0}/net10.0/cluster-gateway.dll",
                "gateway/Cluster.Client/bin/{0}/net10.0/cluster-client.dll" }
            .All(path => File.Exists(RepositoryRoot.PathOf(string.Format(path, Configuration))));
}
