using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Cluster.Contracts.Api;
using Cluster.Testing;
using Grpc.Core;
using Grpc.Net.Client;

namespace Cluster.PeerBenchmark.Runners;

/// <summary>
/// Our cluster as a runner: <c>scripts/cluster-local.sh</c> starts the silo processes and the gateway on loopback with
/// the benchmark's checkpoint, and every prompt goes in as token ids over gRPC <c>Generate</c> (greedy, ignore_eos),
/// all streams at once, as a user's service would send them. What the cluster adds to the engine (the gateway's
/// scheduler, grain calls, the hop between processes) is in its figures; the gateway batches the streams
/// continuously, so "lockstep" is what its scheduler makes of simultaneous arrivals.
/// </summary>
public sealed class ClusterRunner : IGreedyRunner
{
    private const string ModelName = "bench";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(5);

    private readonly Process _script;
    private readonly GrpcChannel _channel;
    private readonly Generation.GenerationClient _client;
    private readonly string _logs;

    private ClusterRunner(string name, Process script, GrpcChannel channel, string logs)
    {
        Name = name;
        _script = script;
        _channel = channel;
        _client = new Generation.GenerationClient(channel);
        _logs = logs;
    }

    public string Name { get; }

    /// <param name="silos">Silo processes, one stage each.</param>
    /// <param name="siloArguments">Extra silo settings, e.g. <c>--Cluster:Stages:WeightDType=bfloat16</c>.</param>
    /// <param name="build">Let the script build the silo and the gateway first (once per run is enough).</param>
    public static ClusterRunner Start(string name, string checkpoint, int silos, IReadOnlyList<string> siloArguments, bool build, TextWriter log)
    {
        var logs = Directory.CreateTempSubdirectory("cluster-peer-bench-").FullName;
        var taken = new HashSet<int>();
        var siloPorts = FreePortRun(silos, taken);
        var orleansGatewayPorts = FreePortRun(silos, taken);
        var siloMetricsPorts = FreePortRun(silos, taken);
        var start = new ProcessStartInfo("bash") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryRoot.Path };
        start.ArgumentList.Add(RepositoryRoot.PathOf("scripts", "cluster-local.sh"));
        var environment = new Dictionary<string, string>
        {
            ["MODEL"] = Path.GetFullPath(checkpoint),
            ["MODEL_NAME"] = ModelName,
            ["SILOS"] = $"{silos}",
            ["STAGES"] = $"{silos}",
            ["GRPC_PORT"] = $"{FreePortRun(1, taken)}",
            ["METRICS_PORT"] = $"{FreePortRun(1, taken)}",
            ["OPENAI_PORT"] = $"{FreePortRun(1, taken)}",
            ["SILO_PORT_BASE"] = $"{siloPorts}",
            ["ORLEANS_GATEWAY_PORT_BASE"] = $"{orleansGatewayPorts}",
            ["SILO_METRICS_BASE"] = $"{siloMetricsPorts}",
            ["SILO_ARGS"] = string.Join(' ', siloArguments),
            // The prefix cache off: the benchmark repeats its prompts (prefill best of 2, stream 0 at every count), and
            // the engine and llama.cpp, which it is compared with, recompute them.
            ["GATEWAY_ARGS"] = "--Gateway:Scheduler:PrefixCache=false",
            ["LOGS"] = logs,
        };
        if (!build)
        {
            environment["SKIP_BUILD"] = "1";
        }
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }
        // The silos set their own OpenMP policy (the engine's); the benchmark's own setting must not leak into them.
        start.Environment.Remove("OMP_WAIT_POLICY");
        start.Environment.Remove("GOMP_SPINCOUNT");
        log.WriteLine($"starting {name}: {silos} silo process(es), logs in {logs}");
        var script = Process.Start(start) ?? throw new InvalidOperationException($"Could not start scripts/cluster-local.sh for {name}.");
        var output = new StringBuilder();
        var ready = new TaskCompletionSource();
        script.OutputDataReceived += (_, e) => Observe(e.Data);
        script.ErrorDataReceived += (_, e) => Observe(e.Data);
        script.BeginOutputReadLine();
        script.BeginErrorReadLine();
        if (!ready.Task.Wait(StartTimeout) || script.HasExited)
        {
            Stop(script);
            throw new InvalidOperationException($"{name}: the cluster did not become ready within {StartTimeout.TotalMinutes} minutes (script {(script.HasExited ? $"exited with {script.ExitCode}" : "still running")}). Its output:\n{output}");
        }
        var runner = new ClusterRunner(name, script, GrpcChannel.ForAddress($"http://127.0.0.1:{environment["GRPC_PORT"]}"), logs);
        runner.WarmUp(log);
        return runner;

        void Observe(string? line)
        {
            if (line is null)
            {
                ready.TrySetResult(); // the script ended: the wait above reports it
                return;
            }
            lock (output)
            {
                output.AppendLine(line);
            }
            if (line.StartsWith("Cluster ready", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        }
    }

    public LockstepRun Run(IReadOnlyList<int[]> prompts, int newTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(newTokens, 1);
        var clock = Stopwatch.StartNew();
        var streams = prompts.Select(p => Task.Run(() => StreamAsync(p, newTokens, clock))).ToArray();
        Task.WaitAll(streams);
        return FromStreams(streams.Select(s => s.Result).ToArray(), newTokens);
    }

    /// <summary>
    /// The lockstep runners prefill every prompt in one step and then decode all streams together, so their decode
    /// time is one window. The gateway batches continuously: a stream that arrives first is prefilled and decodes
    /// while the others' prompts are prefilled in a later step (all 32 at once took 0.3-0.45 s with int8 weights).
    /// A window from the first stream's first token to the last stream's last would charge that later prefill to
    /// decoding, which the lockstep runners' figure leaves out. So, as serving benchmarks measure time per output
    /// token: each stream's own decode time, from its first token to its last, averaged over the streams; the other
    /// streams' prefill steps that interrupt a stream's decoding stay in. The "prefill" is the time until every
    /// stream has its first token, the lockstep runners' prefill step.
    /// </summary>
    public static LockstepRun FromStreams(IReadOnlyList<StreamResult> streams, int newTokens)
    {
        var allFirstTokens = streams.Max(r => r.FirstTokenSeconds);
        var decodeSeconds = streams.Average(r => r.LastTokenSeconds - r.FirstTokenSeconds);
        return new LockstepRun(streams.Select(r => r.Tokens).ToArray(), allFirstTokens, decodeSeconds, newTokens - 1);
    }

    public double PrefillSeconds(int[] prompt)
    {
        var clock = Stopwatch.StartNew();
        var result = StreamAsync(prompt, 1, clock).GetAwaiter().GetResult();
        return result.LastTokenSeconds;
    }

    public void Dispose()
    {
        _channel.Dispose();
        Stop(_script);
    }

    /// <summary>
    /// A fresh cluster's first requests run slower (the runtime tiers code up; docs/PERFORMANCE.md "Cold start"), and
    /// the benchmark's own warm-up (two short streams) is too little for that: a few seconds of mixed traffic first.
    /// </summary>
    private void WarmUp(TextWriter log)
    {
        var clock = Stopwatch.StartNew();
        var prompts = Enumerable.Range(0, 32).Select(i => new[] { 10 + i, 20 + i, 30 + i, 40 + i, 50 + i, 60 + i, 70 + i, 80 + i }).ToList();
        foreach (var streams in new[] { 1, 8, 32, 1, 8, 32 })
        {
            Run(prompts.Take(streams).ToList(), 32);
        }
        PrefillSeconds(Enumerable.Range(1, 256).ToArray());
        log.WriteLine($"  {Name}: warmed up in {clock.Elapsed.TotalSeconds:F1} s");
    }

    private async Task<StreamResult> StreamAsync(int[] prompt, int newTokens, Stopwatch clock)
    {
        var request = new GenerateRequest
        {
            Model = ModelName,
            TokenIds = new TokenIds { Ids = { prompt } },
            AddSpecialTokens = false,
            Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = (uint)newTokens, IgnoreEos = true },
        };
        var tokens = new List<int>(newTokens);
        double? first = null;
        var last = 0.0;
        try
        {
            using var call = _client.Generate(request);
            await foreach (var response in call.ResponseStream.ReadAllAsync())
            {
                if (response.TokenIds.Count == 0)
                {
                    continue;
                }
                tokens.AddRange(response.TokenIds);
                last = clock.Elapsed.TotalSeconds;
                first ??= last;
            }
        }
        catch (RpcException e)
        {
            throw new InvalidOperationException($"{Name}: Generate failed ({e.Status.StatusCode}: {e.Status.Detail}); logs in {_logs}.", e);
        }
        if (tokens.Count != newTokens || first is null)
        {
            throw new InvalidOperationException($"{Name}: asked for {newTokens} tokens with ignore_eos, got {tokens.Count}; logs in {_logs}.");
        }
        return new StreamResult([.. tokens], first.Value, last);
    }

    /// <summary>One stream's tokens and when (seconds from the run's start) its first and last token arrived.</summary>
    public sealed record StreamResult(int[] Tokens, double FirstTokenSeconds, double LastTokenSeconds);

    /// <summary>SIGTERM to the script, which stops (drains) every process it started; a kill after 60 s.</summary>
    private static void Stop(Process script)
    {
        if (!script.HasExited)
        {
            using var term = Process.Start("kill", ["-TERM", $"{script.Id}"]);
            term.WaitForExit();
            if (!script.WaitForExit(TimeSpan.FromSeconds(60)))
            {
                script.Kill(entireProcessTree: true);
            }
        }
        script.Dispose();
    }

    /// <summary>
    /// The first of <paramref name="count"/> consecutive loopback ports that are free now and not in <paramref name="taken"/>
    /// (the script numbers each kind of port per silo from a base); adds them to <paramref name="taken"/>.
    /// </summary>
    private static int FreePortRun(int count, HashSet<int> taken)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var first = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var ports = Enumerable.Range(first, count).ToList();
            if (first + count <= IPEndPoint.MaxPort && ports.All(port => !taken.Contains(port) && IsFree(port)))
            {
                taken.UnionWith(ports);
                return first;
            }
        }
        throw new InvalidOperationException($"No {count} consecutive free loopback ports found.");
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var probe = new TcpListener(IPAddress.Loopback, port);
            probe.Start();
            probe.Stop();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
