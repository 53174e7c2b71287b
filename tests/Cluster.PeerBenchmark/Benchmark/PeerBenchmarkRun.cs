using Cluster.PeerBenchmark.Gguf;
using Cluster.PeerBenchmark.Runners;
using Cluster.Testing;

namespace Cluster.PeerBenchmark.Benchmark;

/// <summary>
/// One run: write the GGUFs, measure memory bandwidth, load every engine and llama.cpp variant and start every cluster
/// variant, check greedy tokens (stop on a mismatch that must not happen), then time decode at each stream count and
/// prefill, runner by runner.
/// </summary>
public sealed class PeerBenchmarkRun(PeerBenchmarkOptions options, TextWriter log)
{
    public PeerReport Execute()
    {
        var started = DateTimeOffset.UtcNow;
        var checkpoint = options.Checkpoint ?? BenchmarkCheckpoints.Llama124MDirectory();
        var config = HfLlamaConfig.Read(checkpoint);
        var shape = ModelShape(config);
        log.WriteLine($"checkpoint {checkpoint}: {config.LayerCount} layers, width {config.HiddenSize}, {config.HeadCount} heads / {config.KeyValueHeadCount} KV heads, FFN {config.IntermediateSize}, vocabulary {config.VocabularySize}, tied {config.TieWordEmbeddings}");

        var peers = Variants.Peers();
        var ggufs = peers.Select(p => p.Weights).Distinct().ToDictionary(w => w, w => EnsureGguf(checkpoint, w));

        var bandwidth = MemoryBandwidth.ReadGigabytesPerSecond(options.Threads);
        var weightCount = BenchmarkCheckpoints.DecodeWeightBytes(shape, bytesPerWeight: 1);
        log.WriteLine($"memory read bandwidth ({options.Threads} threads, 1 GiB sum): {bandwidth:F1} GB/s; decode reads {weightCount / 1e6:F1} M weights per step");

        var engines = Variants.Engines(options.Threads);
        var runners = new List<(IGreedyRunner Runner, double BytesPerWeight)>();
        try
        {
            foreach (var e in engines)
            {
                log.WriteLine($"loading {e.Name}");
                runners.Add((EngineRunner.Load(e.Name, checkpoint, e.Options), e.BytesPerWeight));
            }
            foreach (var p in peers)
            {
                log.WriteLine(options.PeersInProcess
                    ? $"loading {p.Name} in this process (OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "as the engine set it"})"
                    : $"loading {p.Name} in a child process (OMP_WAIT_POLICY={options.PeerWaitPolicy ?? "unset: libgomp's default"})");
                IGreedyRunner runner = options.PeersInProcess
                    ? LlamaCppRunner.Load(p.Name, ggufs[p.Weights], p.Settings, options.Threads)
                    : ChildProcessRunner.Start(p.Name, ggufs[p.Weights], p.Settings, options.Threads, options.PeerWaitPolicy);
                runners.Add((runner, p.BytesPerWeight));
            }
            var clusters = options.Cluster ? Variants.Clusters(options.Threads) : [];
            foreach (var c in clusters)
            {
                var engine = engines.Single(e => e.Name == c.Engine);
                runners.Add((ClusterRunner.Start(c.Name, checkpoint, c.Silos, c.SiloArguments, build: c == clusters[0], log), engine.BytesPerWeight));
            }

            var agreements = CheckAgreement(engines, peers, clusters, runners.Select(r => r.Runner).ToList(), config.VocabularySize);
            var results = MeasureAll(runners, weightCount, bandwidth, config.VocabularySize, agreements);
            var ratios = Ratios(engines, peers, clusters, results);
            return new PeerReport(checkpoint, Machine(), started, options with { Checkpoint = checkpoint }, bandwidth, weightCount, results, agreements, ratios);
        }
        finally
        {
            foreach (var (runner, _) in runners)
            {
                runner.Dispose();
            }
        }
    }

    private List<TokenAgreement> CheckAgreement(IReadOnlyList<EngineVariant> engines, IReadOnlyList<PeerVariant> peers, IReadOnlyList<ClusterVariant> clusters, IReadOnlyList<IGreedyRunner> runners, int vocabulary)
    {
        var prompts = PromptSet(options.CheckPrompts, options.PromptTokens, vocabulary, seed: 1);
        log.WriteLine($"greedy check: {prompts.Count} prompts of {options.PromptTokens} tokens, {options.CheckTokens} tokens each, solo");
        var solo = runners.ToDictionary(r => r.Name, r => prompts.Select(p => r.Run([p], options.CheckTokens).Tokens[0]).ToArray());
        var agreements = new List<TokenAgreement>();
        foreach (var e in engines)
        {
            foreach (var p in peers)
            {
                var required = e.Exact && p.Weights == e.PeerWeights && p.Settings.F32Kv;
                var agreement = Compare(e.Name, solo[e.Name], p.Name, solo[p.Name], "solo greedy tokens", required);
                agreements.Add(agreement);
                log.WriteLine($"  {Describe(agreement)}");
                if (required && !agreement.Identical)
                {
                    for (var i = 0; i < prompts.Count; i++)
                    {
                        log.WriteLine($"    prompt [{string.Join(", ", prompts[i])}]\n      {e.Name,-45} [{string.Join(", ", solo[e.Name][i])}]\n      {p.Name,-45} [{string.Join(", ", solo[p.Name][i])}]");
                    }
                    throw new TokenMismatchException($"{p.Name} and {e.Name} must give identical greedy tokens on the same fp32 weights with an f32 KV cache; {agreement.IdenticalSequences} of {agreement.Sequences} sequences were identical (first difference at step {agreement.FirstDifferenceStep}). Nothing was timed.");
                }
            }
        }
        foreach (var c in clusters)
        {
            // The cluster runs the engine's code on the same weights: any difference is a bug in the path between them.
            var agreement = Compare(c.Engine, solo[c.Engine], c.Name, solo[c.Name], "solo greedy tokens", required: true);
            agreements.Add(agreement);
            log.WriteLine($"  {Describe(agreement)}");
            if (!agreement.Identical)
            {
                throw new TokenMismatchException($"{c.Name} and {c.Engine} must give identical greedy tokens; {agreement.IdenticalSequences} of {agreement.Sequences} sequences were identical (first difference at step {agreement.FirstDifferenceStep}). Nothing was timed.");
            }
        }
        return agreements;
    }

    /// <summary>
    /// Times every runner, metric by metric (each stream count, then prefill, all runners back to back), so that load
    /// from other processes drifting over the run shifts every runner's figure of a metric alike instead of one runner's.
    /// </summary>
    private List<RunnerResult> MeasureAll(IReadOnlyList<(IGreedyRunner Runner, double BytesPerWeight)> runners, long weightCount, double bandwidth, int vocabulary, List<TokenAgreement> agreements)
    {
        var prompts = PromptSet(options.Streams.Max(), options.PromptTokens, vocabulary, seed: 2);
        var prefillPrompt = PromptSet(1, options.PrefillTokens, vocabulary, seed: 3)[0];
        foreach (var (runner, _) in runners)
        {
            runner.Run(prompts.Take(2).ToList(), 4); // warm-up: first-call allocations, thread pools
            runner.PrefillSeconds(prefillPrompt[..Math.Min(64, prefillPrompt.Length)]);
        }
        var decode = runners.ToDictionary(r => r.Runner.Name, _ => new List<StreamResult>());
        var soloTokens = new Dictionary<string, int[]>();
        foreach (var streams in options.Streams)
        {
            log.WriteLine($"timing {streams} stream(s), {options.NewTokens} tokens each");
            foreach (var (runner, _) in runners)
            {
                var run = runner.Run(prompts.Take(streams).ToList(), options.NewTokens);
                decode[runner.Name].Add(new StreamResult(streams, run.DecodeTokensPerSecond, run.MillisecondsPerStep));
                log.WriteLine($"  {runner.Name,-50} {run.DecodeTokensPerSecond,7:F1} tok/s, {run.MillisecondsPerStep,7:F1} ms/step (prefill of {streams} x {options.PromptTokens} tokens {1000 * run.PrefillSeconds:F0} ms)");
                // Stream 0 has the same prompt at every stream count: lockstep should not change its tokens (with an f32 KV cache it must not).
                if (streams == 1)
                {
                    soloTokens[runner.Name] = run.Tokens[0];
                }
                else if (soloTokens.TryGetValue(runner.Name, out var alone))
                {
                    var agreement = Compare(runner.Name + ", alone", [alone], runner.Name + $", stream 0 of {streams}", [run.Tokens[0]], "lockstep against solo", required: false);
                    agreements.Add(agreement);
                    log.WriteLine($"    {Describe(agreement)}");
                }
            }
        }
        log.WriteLine($"timing prefill of {options.PrefillTokens} tokens (best of 2)");
        var results = new List<RunnerResult>();
        foreach (var (runner, bytesPerWeight) in runners)
        {
            var prefillSeconds = Enumerable.Range(0, 2).Min(_ => runner.PrefillSeconds(prefillPrompt));
            log.WriteLine($"  {runner.Name,-50} {options.PrefillTokens / prefillSeconds:F0} tok/s");
            var floorMs = 1000.0 * weightCount * bytesPerWeight / (bandwidth * 1e9);
            results.Add(new RunnerResult(runner.Name, bytesPerWeight, decode[runner.Name], options.PrefillTokens / prefillSeconds, floorMs));
        }
        return results;
    }

    /// <summary>
    /// Each engine variant ÷ its llama.cpp references (<see cref="Variants.RatioPeers"/>); each cluster variant ÷ the
    /// engine variant it runs (does the cluster keep up?) and ÷ llama.cpp's defaults on the fp32 GGUF.
    /// </summary>
    private static List<RatioColumn> Ratios(IReadOnlyList<EngineVariant> engines, IReadOnlyList<PeerVariant> peers, IReadOnlyList<ClusterVariant> clusters, List<RunnerResult> results)
    {
        var pairs = engines.SelectMany(e => Variants.RatioPeers(e, peers).Select(p => (Ours: e.Name, Reference: p.Name)))
            .Concat(clusters.SelectMany(c => new[] { (Ours: c.Name, Reference: c.Engine), (Ours: c.Name, Reference: Variants.ReferencePeer.Name) }));
        var columns = new List<RatioColumn>();
        foreach (var (oursName, referenceName) in pairs)
        {
            var ours = results.Single(r => r.Name == oursName);
            var reference = results.Single(r => r.Name == referenceName);
            var byMetric = new Dictionary<string, double>();
            foreach (var d in ours.Decode)
            {
                byMetric[MetricNames.Decode(d.Streams)] = d.TokensPerSecond / reference.Decode.Single(x => x.Streams == d.Streams).TokensPerSecond;
            }
            byMetric[MetricNames.Prefill] = ours.PrefillTokensPerSecond / reference.PrefillTokensPerSecond;
            if (ours.FloorShare is { } a && reference.FloorShare is { } b)
            {
                byMetric[MetricNames.Floor] = a / b;
            }
            columns.Add(new RatioColumn(oursName, referenceName, byMetric));
        }
        return columns;
    }

    private static TokenAgreement Compare(string referenceName, int[][] reference, string otherName, int[][] other, string what, bool required)
    {
        var equal = 0;
        var identical = 0;
        var firstDifference = -1;
        for (var s = 0; s < reference.Length; s++)
        {
            var same = reference[s].Zip(other[s]).Count(p => p.First == p.Second);
            equal += same;
            if (same == reference[s].Length)
            {
                identical++;
            }
            var differs = reference[s].Zip(other[s]).Select((p, i) => p.First == p.Second ? -1 : i).FirstOrDefault(i => i >= 0, -1);
            if (differs >= 0 && (firstDifference < 0 || differs < firstDifference))
            {
                firstDifference = differs;
            }
        }
        return new TokenAgreement(referenceName, otherName, what, reference.Length, reference[0].Length, equal, identical, firstDifference, required);
    }

    private static string Describe(TokenAgreement a) =>
        $"{a.What}: {a.Other} vs {a.Reference}: {a.IdenticalSequences}/{a.Sequences} sequences identical, {a.EqualTokens}/{a.Sequences * a.TokensEach} tokens equal" +
        (a.FirstDifferenceStep >= 0 ? $", first difference at step {a.FirstDifferenceStep}" : "") + (a.Required ? " (required: identical)" : "");

    /// <summary>The GGUF of <paramref name="weights"/> for this checkpoint, written unless a copy newer than every checkpoint file exists.</summary>
    private string EnsureGguf(string checkpoint, GgufWeightType weights)
    {
        var dir = options.GgufDirectory ?? Path.Combine(Path.GetTempPath(), "cluster-peer-gguf");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(checkpoint)))}-{weights.ToString().ToLowerInvariant()}.gguf");
        var newestSource = Directory.GetFiles(checkpoint).Max(File.GetLastWriteTimeUtc);
        if (File.Exists(path) && File.GetLastWriteTimeUtc(path) > newestSource && File.GetLastWriteTimeUtc(path) > File.GetLastWriteTimeUtc(typeof(LlamaGgufConverter).Assembly.Location))
        {
            log.WriteLine($"GGUF {weights}: {path} (reused)");
            return path;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        LlamaGgufConverter.Convert(checkpoint, path, weights);
        log.WriteLine($"GGUF {weights}: wrote {path} ({new FileInfo(path).Length / 1e6:F0} MB) in {clock.Elapsed.TotalSeconds:F1} s");
        return path;
    }

    /// <summary>Random prompts of token ids below the last id (GPT-2's &lt;|endoftext|&gt;), the same for every runner.</summary>
    private static List<int[]> PromptSet(int count, int length, int vocabulary, ulong seed)
    {
        var random = new DeterministicRandom(seed);
        return Enumerable.Range(0, count)
            .Select(_ => Enumerable.Range(0, length).Select(_ => (int)(random.NextUInt64() % (ulong)(vocabulary - 1))).ToArray())
            .ToList();
    }

    private static TinyModelOptions ModelShape(HfLlamaConfig c) => TinyModelOptions.Llama with
    {
        VocabularySize = c.VocabularySize,
        HiddenSize = c.HiddenSize,
        LayerCount = c.LayerCount,
        HeadCount = c.HeadCount,
        KeyValueHeadCount = c.KeyValueHeadCount,
        HeadDimension = c.HeadDimension,
        IntermediateSize = c.IntermediateSize,
        TieWordEmbeddings = c.TieWordEmbeddings,
    };

    private static string Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        return $"{cpu ?? "unknown CPU"}, {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
    }
}

/// <summary>Greedy tokens that must be identical were not: the run stops before timing anything.</summary>
public sealed class TokenMismatchException(string message) : Exception(message);

public static class MetricNames
{
    public const string Prefill = "prefill";
    public const string Floor = "bandwidth floor";

    public static string Decode(int streams) => streams == 1 ? "batch 1 decode" : $"{streams} streams";
}
