using Cluster.PeerBenchmark.Gguf;
using Cluster.PeerBenchmark.Runners;
using Cluster.Testing;

namespace Cluster.PeerBenchmark.Benchmark;

/// <summary>
/// One run: write the GGUFs, measure memory bandwidth, load every engine and llama.cpp variant, check greedy tokens
/// (stop on a mismatch that must not happen), then time decode at each stream count and prefill, runner by runner; then
/// each cluster variant on its own (started, checked against its engine variant, timed between two timings of that
/// engine variant, stopped), so that no idle cluster shares the cores with another row's timing.
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

            log.WriteLine($"greedy check: {options.CheckPrompts} prompts of {options.PromptTokens} tokens, {options.CheckTokens} tokens each, solo");
            var checkPrompts = PromptSet(options.CheckPrompts, options.PromptTokens, config.VocabularySize, seed: 1);
            var solo = SoloTokens(runners.Select(r => r.Runner), checkPrompts);
            var agreements = CheckAgreement(engines, peers, solo);
            var timing = new Timing(PromptSet(options.Streams.Max(), options.PromptTokens, config.VocabularySize, seed: 2),
                PromptSet(1, options.PrefillTokens, config.VocabularySize, seed: 3)[0], weightCount, bandwidth, agreements);
            var results = Measure(runners.Select(r => new Slot(r.Runner, r.Runner.Name, r.BytesPerWeight)).ToList(), timing);

            var clusters = options.Cluster ? Variants.Clusters(options.Threads) : [];
            foreach (var c in clusters)
            {
                var engine = engines.Single(e => e.Name == c.Engine);
                var engineRunner = runners.Single(r => r.Runner.Name == c.Engine).Runner;
                using var cluster = ClusterRunner.Start(c.Name, checkpoint, c.Silos, c.SiloArguments, build: c == clusters[0], log);
                CheckCluster(c, solo[c.Engine], SoloTokens([cluster], checkPrompts)[c.Name], agreements);
                // Engine, cluster, cluster, engine: drift over the four cancels out of the ratio (to first order).
                var beside = Variants.TimedBeside(c);
                Slot engineSlot = new(engineRunner, beside, engine.BytesPerWeight), clusterSlot = new(cluster, c.Name, engine.BytesPerWeight);
                results.AddRange(Measure([engineSlot, clusterSlot, clusterSlot, engineSlot], timing));
            }

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

    /// <summary>Every runner's greedy tokens for each prompt, run alone.</summary>
    private Dictionary<string, int[][]> SoloTokens(IEnumerable<IGreedyRunner> runners, List<int[]> prompts) =>
        runners.ToDictionary(r => r.Name, r => prompts.Select(p => r.Run([p], options.CheckTokens).Tokens[0]).ToArray());

    private List<TokenAgreement> CheckAgreement(IReadOnlyList<EngineVariant> engines, IReadOnlyList<PeerVariant> peers, Dictionary<string, int[][]> solo)
    {
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
                    for (var i = 0; i < solo[e.Name].Length; i++)
                    {
                        log.WriteLine($"    prompt {i}\n      {e.Name,-45} [{string.Join(", ", solo[e.Name][i])}]\n      {p.Name,-45} [{string.Join(", ", solo[p.Name][i])}]");
                    }
                    throw new TokenMismatchException($"{p.Name} and {e.Name} must give identical greedy tokens on the same fp32 weights with an f32 KV cache; {agreement.IdenticalSequences} of {agreement.Sequences} sequences were identical (first difference at step {agreement.FirstDifferenceStep}). Nothing was timed.");
                }
            }
        }
        return agreements;
    }

    /// <summary>The cluster runs the engine's code on the same weights: any difference in its solo tokens is a bug in the path between them.</summary>
    private void CheckCluster(ClusterVariant cluster, int[][] engineTokens, int[][] clusterTokens, List<TokenAgreement> agreements)
    {
        var agreement = Compare(cluster.Engine, engineTokens, cluster.Name, clusterTokens, "solo greedy tokens", required: true);
        agreements.Add(agreement);
        log.WriteLine($"  {Describe(agreement)}");
        if (!agreement.Identical)
        {
            throw new TokenMismatchException($"{cluster.Name} and {cluster.Engine} must give identical greedy tokens; {agreement.IdenticalSequences} of {agreement.Sequences} sequences were identical (first difference at step {agreement.FirstDifferenceStep}). Nothing more was timed.");
        }
    }

    /// <summary>What every timed pass uses: the prompts, the floor's inputs, and where lockstep agreements go.</summary>
    private sealed record Timing(List<int[]> Prompts, int[] PrefillPrompt, long WeightCount, double Bandwidth, List<TokenAgreement> Agreements);

    /// <summary>One position in a pass: a runner and the row its figures go to (a row timed twice in a pass gets the mean).</summary>
    private sealed record Slot(IGreedyRunner Runner, string Row, double BytesPerWeight);

    /// <summary>
    /// Times the slots metric by metric (each stream count, then prefill, all slots back to back in their order), so
    /// that load from other processes drifting over the run shifts every row's figure of a metric alike instead of one
    /// row's. A row with two slots gets the mean of its two decode figures and the better of its two prefills.
    /// </summary>
    private List<RunnerResult> Measure(IReadOnlyList<Slot> slots, Timing timing)
    {
        foreach (var runner in slots.Select(s => s.Runner).Distinct())
        {
            runner.Run(timing.Prompts.Take(2).ToList(), 4); // warm-up: first-call allocations, thread pools
            runner.PrefillSeconds(timing.PrefillPrompt[..Math.Min(64, timing.PrefillPrompt.Length)]);
        }
        var rows = slots.Select(s => s.Row).Distinct().ToList();
        var decode = rows.ToDictionary(r => r, _ => new List<StreamResult>());
        var soloTokens = new Dictionary<string, int[]>();
        foreach (var streams in options.Streams)
        {
            log.WriteLine($"timing {streams} stream(s), {options.NewTokens} tokens each");
            var runs = rows.ToDictionary(r => r, _ => new List<LockstepRun>());
            foreach (var slot in slots)
            {
                var run = slot.Runner.Run(timing.Prompts.Take(streams).ToList(), options.NewTokens);
                runs[slot.Row].Add(run);
                log.WriteLine($"  {slot.Row,-50} {run.DecodeTokensPerSecond,7:F1} tok/s, {run.MillisecondsPerStep,7:F1} ms/step (prefill of {streams} x {options.PromptTokens} tokens {1000 * run.PrefillSeconds:F0} ms)");
            }
            foreach (var row in rows)
            {
                var first = runs[row][0];
                decode[row].Add(new StreamResult(streams, runs[row].Average(r => r.DecodeTokensPerSecond), runs[row].Average(r => r.MillisecondsPerStep)));
                // Stream 0 has the same prompt at every stream count: lockstep should not change its tokens (with an f32 KV cache it must not).
                if (streams == 1)
                {
                    soloTokens[row] = first.Tokens[0];
                }
                else if (soloTokens.TryGetValue(row, out var alone))
                {
                    var agreement = Compare(row + ", alone", [alone], row + $", stream 0 of {streams}", [first.Tokens[0]], "lockstep against solo", required: false);
                    timing.Agreements.Add(agreement);
                    log.WriteLine($"    {Describe(agreement)}");
                }
            }
        }
        log.WriteLine($"timing prefill of {options.PrefillTokens} tokens (best of 2)");
        var prefill = rows.ToDictionary(r => r, _ => double.PositiveInfinity);
        var tries = rows.ToDictionary(r => r, _ => 0);
        while (tries.Values.Any(t => t < 2)) // two tries a row, in the slots' order: a row with one slot goes round twice
        {
            foreach (var slot in slots.Where(s => tries[s.Row] < 2))
            {
                prefill[slot.Row] = Math.Min(prefill[slot.Row], slot.Runner.PrefillSeconds(timing.PrefillPrompt));
                tries[slot.Row]++;
            }
        }
        var results = new List<RunnerResult>();
        foreach (var row in rows)
        {
            var bytesPerWeight = slots.First(s => s.Row == row).BytesPerWeight;
            log.WriteLine($"  {row,-50} {options.PrefillTokens / prefill[row]:F0} tok/s");
            var floorMs = 1000.0 * timing.WeightCount * bytesPerWeight / (timing.Bandwidth * 1e9);
            results.Add(new RunnerResult(row, bytesPerWeight, decode[row], options.PrefillTokens / prefill[row], floorMs));
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
            .Concat(clusters.SelectMany(c => new[] { (Ours: c.Name, Reference: Variants.TimedBeside(c)), (Ours: c.Name, Reference: Variants.ReferencePeer.Name) }));
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
