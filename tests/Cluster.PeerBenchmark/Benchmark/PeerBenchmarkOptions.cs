using System.Globalization;

namespace Cluster.PeerBenchmark.Benchmark;

/// <summary>The command line: <c>[--checkpoint DIR] [--streams 1,8,32] [--new-tokens 128] [--prefill 512] [--json PATH]</c> and a few more.</summary>
public sealed record PeerBenchmarkOptions
{
    /// <summary>A Hugging Face Llama checkpoint directory; null = issue #12's model, written once to the temp folder.</summary>
    public string? Checkpoint { get; init; }

    public IReadOnlyList<int> Streams { get; init; } = [1, 8, 32];
    public int NewTokens { get; init; } = 128;
    public int PromptTokens { get; init; } = 8;
    public int PrefillTokens { get; init; } = 512;

    /// <summary>Threads for both engines (llama.cpp's threads and batch threads; libtorch's intra-op threads).</summary>
    public int Threads { get; init; } = 2;

    /// <summary>Prompts and tokens per prompt of the greedy-agreement check run before timing.</summary>
    public int CheckPrompts { get; init; } = 4;
    public int CheckTokens { get; init; } = 32;

    public string? JsonPath { get; init; }

    /// <summary>
    /// Run llama.cpp in this process instead of in child processes; then both runtimes share one OpenMP wait policy
    /// (see <see cref="Runners.ChildProcessRunner"/>).
    /// </summary>
    public bool PeersInProcess { get; init; }

    /// <summary>OMP_WAIT_POLICY for llama.cpp's child processes; null leaves libgomp's default.</summary>
    public string? PeerWaitPolicy { get; init; }

    /// <summary>Also start our cluster on loopback (<see cref="Variants.Clusters"/>) and time it beside the engine.</summary>
    public bool Cluster { get; init; } = true;

    /// <summary>Where the GGUF files are written (reused while newer than the checkpoint).</summary>
    public string? GgufDirectory { get; init; }

    public const string Usage =
        "usage: cluster-peer-benchmark [--checkpoint DIR] [--streams 1,8,32] [--new-tokens 128] [--prompt-tokens 8] [--prefill 512]\n" +
        "                              [--threads 2] [--check-prompts 4] [--check-tokens 32] [--gguf-dir DIR] [--json PATH]\n" +
        "                              [--peers-in-process] [--peer-omp-wait-policy ACTIVE|PASSIVE] [--no-cluster]";

    public static PeerBenchmarkOptions Parse(IReadOnlyList<string> args)
    {
        var o = new PeerBenchmarkOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.\n{Usage}");
            o = name switch
            {
                "--checkpoint" => o with { Checkpoint = Value() },
                "--streams" => o with { Streams = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => Positive(name, s)).Distinct().Order().ToList() },
                "--new-tokens" => o with { NewTokens = Positive(name, Value()) },
                "--prompt-tokens" => o with { PromptTokens = Positive(name, Value()) },
                "--prefill" => o with { PrefillTokens = Positive(name, Value()) },
                "--threads" => o with { Threads = Positive(name, Value()) },
                "--check-prompts" => o with { CheckPrompts = Positive(name, Value()) },
                "--check-tokens" => o with { CheckTokens = Positive(name, Value()) },
                "--gguf-dir" => o with { GgufDirectory = Value() },
                "--json" => o with { JsonPath = Value() },
                "--peers-in-process" => o with { PeersInProcess = true },
                "--peer-omp-wait-policy" => o with { PeerWaitPolicy = WaitPolicy(name, Value()) },
                "--no-cluster" => o with { Cluster = false },
                _ => throw new ArgumentException($"Unknown option \"{name}\".\n{Usage}"),
            };
        }
        if (o.Streams.Count == 0)
        {
            throw new ArgumentException($"--streams lists no stream counts.\n{Usage}");
        }
        if (o.NewTokens < 2)
        {
            throw new ArgumentException($"--new-tokens must be at least 2 (one token from the prefill, the rest from decode steps), was {o.NewTokens}.");
        }
        return o;
    }

    private static string WaitPolicy(string name, string text) =>
        text.ToUpperInvariant() is "ACTIVE" or "PASSIVE"
            ? text.ToUpperInvariant()
            : throw new ArgumentException($"{name} must be ACTIVE or PASSIVE, was \"{text}\".");

    private static int Positive(string name, string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{name} must be a positive integer, was \"{text}\".");
}
