using System.Diagnostics;
using Cluster.Engine.Caching;
using Cluster.Kernels;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using Cluster.Engine.Weights;
using Cluster.Testing;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Benchmarks.Profile;

/// <summary>
/// Where one decode step's time goes (issue #12, item 1), on issue #12's model (a GPT-2-small-sized Llama, fp32, CPU)
/// at 1, 8 and 32 sequences that each hold 128 positions of context.
/// </summary>
/// <remarks>
/// <para>Method. The <b>full step</b> is what the silo's StageExecutor and the load tool's engine target do per step:
/// <c>ModelShard.Forward</c> (embed → layers → final norm → LM head) on one single-token chunk per sequence, the logits
/// copied into the host buffer kept across steps (<see cref="HostLogits"/>), then the real <see cref="TokenSampler"/> (greedy, no log-probabilities, as a request that does not ask for them) on each sequence's row through <see cref="StepSampling"/>. The caches are
/// truncated back to the context (<c>--context</c>, 128 unless given) before every step, so every repetition sees the
/// same context length. The model is issue #12's (<c>--model llama-124m</c>, the counts below are its) or SmolLM2-135M's
/// shape (<c>--model smollm2-135m</c>: 30 layers, 9 query heads on 3 KV heads).</para>
/// <para>Each <b>component</b> is then timed alone, with the shapes the step gives it, on the same weight values (read
/// a second time from the same checkpoint into tensors of the same shape and dtype; the model's own are private):</para>
/// <list type="bullet">
/// <item>linear layers: the 48 matrices of the 12 layers (fused q/k/v, output, fused gate/up, down) through
/// <c>nn.functional.linear</c>, as the modules call them, on (N, in) inputs;</item>
/// <item>attention: <c>Attention.Attend</c> (cache write and attention over 129 positions) for the 12 layers, on the real
/// caches, with the step's own <see cref="StepLayout"/> (built outside the timed region);</item>
/// <item>LM head: the (N, 768) × (50257, 768)ᵀ product and its fp32 conversion (the final norm counts as a norm);</item>
/// <item>logits to host: the copy of an (N, 50257) tensor into the <see cref="HostLogits"/> buffer a step keeps;</item>
/// <item>sampling: the N greedy <see cref="TokenSampler.Sample"/> calls on those logits.</item>
/// </list>
/// <para><b>Rest</b> = full step − the five components: the host bookkeeping between them. To say what it is made of, the
/// small operations that make it up are timed alone as well (the 25 RmsNorms, the 24 rotary applications, the 24
/// residual adds and 12 SwiGLU gates, the three StepLayouts a forward builds, the embedding lookup); what they do not
/// explain is reported as "unattributed" (tensor creation and dispatch, scopes, narrowing and viewing).</para>
/// <para>Every repetition times the full step and then each component once, in turn, so that noise from other processes
/// on the machine falls on all of them alike; each figure is the median over the repetitions. Components timed alone
/// miss the cache effects of running between the others, so their sum is an estimate: the rest absorbs the difference
/// (and can in principle come out slightly negative when everything else is already at the floor).</para>
/// <para>When the linear layers move to a module of their own (issue #12 item 3), <see cref="Linear"/> is the one line
/// to change so that this profile times what the model runs.</para>
/// </remarks>
internal static class DecodeStepProfile
{
    /// <summary>Positions every sequence has cached before the profiled step (<c>--context</c>).</summary>
    private static int Context { get; set; } = 128;

    // The full step's and the copy's host buffer, kept across steps as StageExecutor keeps its own.
    private static readonly HostLogits HostBuffer = new();

    public static void Run(string[] args)
    {
        var repetitions = ProfileOptions.Int(args, "--reps", 15);
        var sequenceCounts = ProfileOptions.String(args, "--sequences", "1,8,32").Split(',').Select(int.Parse).ToArray();
        // issue #12's model (one query head per KV head), or SmolLM2-135M's shape (grouped-query attention).
        var directory = ProfileOptions.String(args, "--model", "llama-124m") switch
        {
            "llama-124m" => BenchmarkCheckpoints.Llama124MDirectory(),
            "smollm2-135m" => BenchmarkCheckpoints.SmolLM2_135MDirectory(),
            var other => throw new ArgumentException($"--model must be llama-124m or smollm2-135m, was \"{other}\"."),
        };
        Context = ProfileOptions.Int(args, "--context", Context);
        // off: each query head over the whole cache on its own, as before the grouped path (to time the difference).
        DecodeAttention.UseGroupBlocks = ProfileOptions.String(args, "--grouped-attention", "on") != "off";
        var weightDType = ProfileOptions.String(args, "--weight-dtype", "float32"); // float32, bfloat16 or int8 (EngineOptions.WeightDType)
        // Up to how many rows bf16 weights use our kernel rather than oneDNN (LinearCrossover), to measure the crossover.
        LinearCrossover.BFloat16Rows = ProfileOptions.Int(args, "--bf16-kernel-rows", LinearCrossover.BFloat16Rows);
        var kvDType = ProfileOptions.String(args, "--kv-dtype", "float32"); // float32 or bfloat16 (EngineOptions.KvCacheDType)
        // Which instructions int8 weights multiply with (Int8DotPath): avx2 times, on this CPU, what a CPU without AVX-VNNI runs.
        Int8LinearKernel.DefaultPath = Enum.Parse<Int8DotPath>(ProfileOptions.String(args, "--int8-path", Int8LinearKernel.BestPath.ToString()), ignoreCase: true);
        var options = new EngineOptions { Device = "cpu", DType = "float32", WeightDType = weightDType, KvCacheDType = kvDType };
        using var model = ModelShard.Load(directory, options: options);
        using var parts = ModelParts.Load(directory, options);
        parts.Context = Context;
        Console.WriteLine($"Decode step profile: {directory}, {model.Config.LayerCount} layers, width {model.Config.HiddenSize}, " +
            $"vocabulary {model.Config.VocabularySize}, {weightDType} weights (bf16 through our kernel up to {LinearCrossover.BFloat16Rows} rows{(weightDType == "int8" ? $", int8 through {Int8LinearKernel.DefaultPath}" : "")}), {kvDType} KV cache, fp32 activations, CPU, {torch.get_num_threads()} libtorch threads, " +
            $"{Environment.ProcessorCount} cores; context {Context}; {model.Config.HeadCount} query heads on {model.Config.KeyValueHeadCount} KV heads{(DecodeAttention.UseGroupBlocks ? "" : ", grouped attention off")}; median of {repetitions} repetitions; {HugePagesMegabytes()} MB of this process on 2 MiB pages.");

        var columns = new List<(int Sequences, Dictionary<string, double> Ms)>();
        foreach (var n in sequenceCounts)
        {
            columns.Add((n, ProfileOne(model, parts, n, repetitions)));
        }
        ProfileTable.Print(columns);
    }

    private static Dictionary<string, double> ProfileOne(ModelShard model, ModelParts parts, int n, int repetitions)
    {
        var config = model.Config;
        var caches = new KvCache[n];
        try
        {
            for (var s = 0; s < n; s++)
            {
                caches[s] = model.CreateCache(Context + 1);
                var prompt = Enumerable.Range(0, Context).Select(i => (i * 7919 + s * 104729) % config.VocabularySize).ToArray();
                using var prefill = model.Forward([SequenceChunk.ForTokens(caches[s], 0, prompt)]);
            }
            var histories = caches.Select((_, s) => Enumerable.Range(0, Context + 1).Select(i => (i * 31 + s) % config.VocabularySize).ToList()).ToArray();
            var samplers = caches.Select(_ => new TokenSampler(SamplingParameters.GreedyTokensOnly)).ToArray();
            var generator = new Random(n);
            var logits = torch.randn([n, config.VocabularySize], ScalarType.Float32); // (N, V) for the host-side parts
            var host = new HostLogits();
            host.Load(logits);

            var timings = new Dictionary<string, List<double>>();
            void Time(string name, Func<double> timedMilliseconds)
            {
                var ms = timedMilliseconds();
                (timings.TryGetValue(name, out var list) ? list : timings[name] = []).Add(ms);
            }

            for (var rep = -3; rep < repetitions; rep++) // three warm-up rounds
            {
                if (rep == 0)
                {
                    timings.Clear();
                }
                var waitBefore = KernelTeam.WaitSeconds; // the process's other threads are idle while the step runs
                Time(ProfileTable.FullStep, () => Clocked(() => FullStep(model, caches, samplers, histories, generator)));
                Time(ProfileTable.TeamWait, () => 1000 * (KernelTeam.WaitSeconds - waitBefore));
                Time(ProfileTable.LinearLayers, () => parts.LinearLayers(n));
                Time(ProfileTable.Attention, () => parts.Attention(caches));
                Time(ProfileTable.LmHead, () => parts.LmHead(n));
                Time(ProfileTable.LogitsToHost, () => Clocked(() => CopyToHost(logits)));
                Time(ProfileTable.Sampling, () => Clocked(() => SampleAll(host, samplers, histories)));
                Time(ProfileTable.Norms, () => parts.Norms(n));
                Time(ProfileTable.Rotary, () => parts.Rotary(caches));
                Time(ProfileTable.ResidualAndGate, () => parts.ResidualAddsAndGates(n));
                Time(ProfileTable.StepLayouts, () => parts.StepLayouts(caches));
                Time(ProfileTable.Embedding, () => parts.Embedding(n));
            }
            logits.Dispose();
            return timings.ToDictionary(kv => kv.Key, kv => Median(kv.Value));
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache?.Dispose();
            }
        }
    }

    /// <summary>One decode step as StageExecutor runs it: forward, logits to the host, greedy sampling per sequence.</summary>
    private static void FullStep(ModelShard model, KvCache[] caches, TokenSampler[] samplers, List<int>[] histories, Random generator)
    {
        using var scope = torch.NewDisposeScope();
        var chunks = new SequenceChunk[caches.Length];
        for (var s = 0; s < caches.Length; s++)
        {
            caches[s].Truncate(Context);
            chunks[s] = SequenceChunk.Continue(caches[s], [generator.Next(model.Config.VocabularySize)]);
        }
        HostBuffer.Load(model.Forward(chunks)); // (N, V), into the buffer kept across steps, as StageExecutor does
        SampleAll(HostBuffer, samplers, histories);
    }

    /// <summary>The process's anonymous memory on transparent huge pages (the weights that <see cref="Linear"/> collapsed).</summary>
    private static long HugePagesMegabytes()
    {
        const string path = "/proc/self/smaps_rollup";
        var line = File.Exists(path) ? File.ReadLines(path).FirstOrDefault(l => l.StartsWith("AnonHugePages:", StringComparison.Ordinal)) : null;
        return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }

    private static double Clocked(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static void CopyToHost(Tensor logits) => HostBuffer.Load(logits);

    private static void SampleAll(HostLogits logits, TokenSampler[] samplers, List<int>[] histories) =>
        _ = StepSampling.Sample(logits, samplers, histories);

    internal static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
