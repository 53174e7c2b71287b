using System.Diagnostics;
using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Testing;
using TorchSharp;

namespace Cluster.Engine.Benchmarks.Profile;

/// <summary>
/// Where a prefill's time goes (<c>prefill-profile [tokens] [--sequences S] [--weight-dtype float32|bfloat16|int8] [--kv-dtype float32|bfloat16] [--packed on|off] [--reps N]</c>): a
/// prompt of that many tokens (512 unless given) into an empty cache on issue #12's model, the whole forward as the
/// peer benchmark times it (logits of the last token only), against the model's linear layers alone on as many rows
/// (<see cref="ModelParts.LinearLayers"/>, the same weight values). Median of the repetitions, each timing the forward
/// and then the linear layers.
/// </summary>
internal static class PrefillProfile
{
    public static void Run(string[] args)
    {
        var tokens = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? int.Parse(args[0]) : 512;
        var repetitions = ProfileOptions.Int(args, "--reps", 7);
        // --packed off: fp32 weights through libtorch's oneMKL product, as before PackedLinearKernel.
        LinearCrossover.PackedFloat32 = ProfileOptions.String(args, "--packed", "on") != "off";
        var options = new EngineOptions
        {
            Device = "cpu", DType = "float32", WeightDType = ProfileOptions.String(args, "--weight-dtype", "float32"), KvCacheDType = ProfileOptions.String(args, "--kv-dtype", "float32"),
        };
        var directory = BenchmarkCheckpoints.Llama124MDirectory();
        using var model = ModelShard.Load(directory, options: options);
        using var parts = ModelParts.Load(directory, options);
        // --sequences S: S prompts of tokens / S each in one step (a burst of requests), as the peer benchmark's lockstep prefill.
        var sequences = ProfileOptions.Int(args, "--sequences", 1);
        var length = tokens / sequences;
        var prompts = Enumerable.Range(0, sequences)
            .Select(s => Enumerable.Range(0, length).Select(i => ((s * length + i) * 7919) % model.Config.VocabularySize).ToArray()).ToArray();
        var full = new List<double>();
        var linear = new List<double>();
        for (var rep = -2; rep < repetitions; rep++) // two warm-up rounds
        {
            var caches = prompts.Select(_ => model.CreateCache(length)).ToArray();
            try
            {
                var clock = Stopwatch.StartNew();
                using var scope = torch.NewDisposeScope();
                using var logits = model.Forward(prompts.Select((p, s) => SequenceChunk.ForTokens(caches[s], 0, p)).ToArray()); // (S, V)
                if (rep >= 0)
                {
                    full.Add(clock.Elapsed.TotalMilliseconds);
                }
            }
            finally
            {
                foreach (var cache in caches)
                {
                    cache.Dispose();
                }
            }
            var linearMs = parts.LinearLayers(length * sequences);
            if (rep >= 0)
            {
                linear.Add(linearMs);
            }
        }
        var (wholeMedian, linearMedian) = (DecodeStepProfile.Median(full), DecodeStepProfile.Median(linear));
        Console.WriteLine($"Prefill of {sequences} x {length} tokens, {options.WeightDType} weights, {options.KvCacheDType} KV cache{(LinearCrossover.PackedFloat32 ? "" : ", fp32 products through oneMKL")}, median of {repetitions}: whole forward {wholeMedian:F1} ms " +
            $"({sequences * length / wholeMedian * 1000:F0} tokens/s); its linear layers alone {linearMedian:F1} ms; the rest {wholeMedian - linearMedian:F1} ms.");
    }
}
