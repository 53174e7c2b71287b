using System.Diagnostics;
using System.Text.Json;

namespace Cluster.PeerBenchmark.Runners;

/// <summary>
/// A llama.cpp runner in a child process of this benchmark (<see cref="PeerServer"/> on the other end), so that each
/// runtime runs under its own OpenMP settings in one run: our engine needs libtorch's OpenMP threads to sleep
/// between operations (it sets <c>OMP_WAIT_POLICY=PASSIVE</c> for its process), while llama.cpp's CPU backend
/// synchronises its threads with <c>#pragma omp barrier</c> and slows down when they sleep. In one process both read
/// the same variable. The child gets the parent's environment without <c>OMP_WAIT_POLICY</c> and
/// <c>GOMP_SPINCOUNT</c> unless a policy is given: libgomp's own default, which spins briefly at a barrier and then
/// sleeps, as llama.cpp runs for its users; its idle threads so do not spin while our engine is timed. Timing
/// happens in the child, around the same calls as in process; only the results cross the pipe.
/// </summary>
public sealed class ChildProcessRunner : IGreedyRunner
{
    private readonly Process _process;

    private ChildProcessRunner(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    /// <param name="waitPolicy">OMP_WAIT_POLICY for the child (ACTIVE or PASSIVE); null leaves libgomp's default.</param>
    public static ChildProcessRunner Start(string name, string ggufPath, LlamaCppSettings settings, int threads, string? waitPolicy)
    {
        var start = new ProcessStartInfo(DotNetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = false, // llama.cpp's log and errors go straight to ours
            UseShellExecute = false,
        };
        foreach (var arg in new[] { typeof(ChildProcessRunner).Assembly.Location, PeerServer.Command, name, ggufPath, settings.F32Kv ? "f32kv" : "defaults", threads.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment.Remove("OMP_WAIT_POLICY");
        start.Environment.Remove("GOMP_SPINCOUNT");
        if (waitPolicy is not null)
        {
            start.Environment["OMP_WAIT_POLICY"] = waitPolicy;
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start the child process for {name}.");
        var runner = new ChildProcessRunner(name, process);
        try
        {
            runner.ReadReply(); // "ready" once the model is loaded
        }
        catch
        {
            runner.Dispose();
            throw;
        }
        return runner;
    }

    public LockstepRun Run(IReadOnlyList<int[]> prompts, int newTokens) =>
        Ask(new PeerRequest("run", prompts.ToArray(), newTokens)).Run
        ?? throw new InvalidOperationException($"{Name}: the child answered a run without its result.");

    public double PrefillSeconds(int[] prompt) =>
        Ask(new PeerRequest("prefill", [prompt], 0)).Seconds
        ?? throw new InvalidOperationException($"{Name}: the child answered a prefill without its time.");

    private PeerReply Ask(PeerRequest request)
    {
        _process.StandardInput.WriteLine(JsonSerializer.Serialize(request, PeerServer.Json));
        _process.StandardInput.Flush();
        return ReadReply();
    }

    /// <summary>The next reply line (<see cref="PeerServer.ReplyPrefix"/>); anything else native code printed is passed on to stderr.</summary>
    private PeerReply ReadReply()
    {
        while (_process.StandardOutput.ReadLine() is { } line)
        {
            if (!line.StartsWith(PeerServer.ReplyPrefix, StringComparison.Ordinal))
            {
                Console.Error.WriteLine(line);
                continue;
            }
            var reply = JsonSerializer.Deserialize<PeerReply>(line[PeerServer.ReplyPrefix.Length..], PeerServer.Json)
                ?? throw new InvalidOperationException($"{Name}: the child sent an empty reply.");
            return reply.Error is { } error ? throw new InvalidOperationException($"{Name} (child process): {error}") : reply;
        }
        throw new InvalidOperationException($"{Name}: the child process ended (exit code {(_process.HasExited ? _process.ExitCode : -1)}) without answering.");
    }

    private static string DotNetHost() =>
        Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close(); // the server's loop ends at end of input
                if (!_process.WaitForExit(10_000))
                {
                    _process.Kill(entireProcessTree: true);
                }
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}

/// <summary>One call to the child: <c>run</c> (lockstep greedy decode of <see cref="Prompts"/>) or <c>prefill</c> (of the one prompt).</summary>
public sealed record PeerRequest(string Op, int[][] Prompts, int NewTokens);

/// <summary>The child's answer: the run, the prefill seconds, "ready" (both null), or an error.</summary>
public sealed record PeerReply(LockstepRun? Run = null, double? Seconds = null, string? Error = null);

/// <summary>
/// The child side of <see cref="ChildProcessRunner"/>: <c>cluster-peer-benchmark serve-peer NAME GGUF defaults|f32kv THREADS</c>
/// loads one llama.cpp runner and answers one JSON request per stdin line with one reply line on stdout, until stdin ends.
/// </summary>
public static class PeerServer
{
    public const string Command = "serve-peer";

    /// <summary>Marks reply lines, so that anything a native library prints to stdout cannot be taken for one.</summary>
    public const string ReplyPrefix = "@@peer ";

    /// <summary>Both ends' JSON: a run without decode steps has a NaN step time, which plain JSON cannot carry.</summary>
    internal static readonly JsonSerializerOptions Json = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static int Serve(IReadOnlyList<string> args)
    {
        if (args.Count != 4 || args[2] is not ("defaults" or "f32kv") || !int.TryParse(args[3], out var threads) || threads < 1)
        {
            Console.Error.WriteLine($"usage: cluster-peer-benchmark {Command} NAME GGUF defaults|f32kv THREADS");
            return 2;
        }
        var settings = args[2] == "f32kv" ? LlamaCppSettings.F32KvCache : LlamaCppSettings.Defaults;
        using var runner = LlamaCppRunner.Load(args[0], args[1], settings, threads);
        Reply(new PeerReply());
        while (Console.In.ReadLine() is { } line)
        {
            try
            {
                var request = JsonSerializer.Deserialize<PeerRequest>(line, Json) ?? throw new InvalidOperationException("An empty request.");
                Reply(request.Op switch
                {
                    "run" => new PeerReply(Run: runner.Run(request.Prompts, request.NewTokens)),
                    "prefill" => new PeerReply(Seconds: runner.PrefillSeconds(request.Prompts.Single())),
                    _ => new PeerReply(Error: $"Unknown op \"{request.Op}\"."),
                });
            }
            catch (Exception e)
            {
                Reply(new PeerReply(Error: $"{e.GetType().Name}: {e.Message}"));
            }
        }
        return 0;
    }

    private static void Reply(PeerReply reply)
    {
        Console.Out.WriteLine(ReplyPrefix + JsonSerializer.Serialize(reply, Json));
        Console.Out.Flush();
    }
}
