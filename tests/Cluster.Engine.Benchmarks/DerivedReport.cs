using BenchmarkDotNet.Reports;

namespace Cluster.Engine.Benchmarks;

/// <summary>Turns BenchmarkDotNet's mean times into the numbers docs/PERFORMANCE.md records: tokens/s, GB/s, the decode floor.</summary>
internal static class DerivedReport
{
    public static void Print(IEnumerable<Summary> summaries)
    {
        var means = new Dictionary<string, double>(); // seconds
        foreach (var report in summaries.SelectMany(s => s.Reports).Where(r => r.ResultStatistics is not null))
        {
            var name = report.BenchmarkCase.Descriptor.WorkloadMethod.Name;
            var parameters = report.BenchmarkCase.Parameters.Items.Select(p => p.Value?.ToString());
            means[string.Join("/", parameters.Prepend(name))] = report.ResultStatistics!.Mean / 1e9;
        }
        if (means.Count == 0)
        {
            return;
        }
        Console.WriteLine();
        Console.WriteLine("Derived (mean times):");
        if (means.TryGetValue("Prefill512", out var prefill))
        {
            Console.WriteLine($"  prefill, 512-token prompt: {prefill * 1e3:F1} ms = {PrefillBenchmarks.PromptTokens / prefill:F0} tokens/s");
        }
        var single = means.GetValueOrDefault("DecodeStep/1");
        foreach (var n in new[] { 1, 8, 32 })
        {
            if (means.TryGetValue($"DecodeStep/{n}", out var step))
            {
                var ratio = single > 0 ? $", {n / step / (1 / single):F1}x the tokens/s of one sequence" : "";
                Console.WriteLine($"  decode, {n} sequence(s) at context {DecodeBenchmarks.DecodeContext}: {step * 1e3:F1} ms/step = {n / step:F1} tokens/s{ratio}");
            }
        }
        foreach (var way in Enum.GetValues<LinearLayersBenchmarks.Way>())
        {
            var times = new[] { 1, 8, 32 }.Select(rows => means.GetValueOrDefault($"FortyNineMatrices/{rows}/{way}")).ToArray();
            if (times.Any(t => t > 0))
            {
                var bytes = LinearLayersBenchmarks.WeightCount * (way == LinearLayersBenchmarks.Way.LibtorchBf16 || way == LinearLayersBenchmarks.Way.OursBf16 ? 2 : 4);
                var bandwidth = times[0] > 0 && way != LinearLayersBenchmarks.Way.LibtorchOpOnly ? $", batch 1 reads the weights at {bytes / times[0] / 1e9:F1} GB/s" : "";
                Console.WriteLine($"  49 linear layers, {way}: {string.Join(" / ", times.Select(t => t > 0 ? $"{t * 1e3:F1}" : "-"))} ms at 1 / 8 / 32 rows{bandwidth}");
            }
        }
        if (means.TryGetValue("Copy512MiB", out var copy))
        {
            var bandwidth = MemoryBandwidthBenchmarks.Bytes / copy;
            var weightBytes = Gpt2SmallCheckpoint.WeightBytes();
            var floor = weightBytes / bandwidth;
            Console.WriteLine($"  copy bandwidth: {bandwidth / 1e9:F2} GB/s (512 MiB copied in {copy * 1e3:F1} ms)");
            Console.WriteLine($"  batch-1 decode floor: {weightBytes / 1e6:F0} MB of weights / {bandwidth / 1e9:F2} GB/s = {floor * 1e3:F1} ms");
            if (single > 0)
            {
                Console.WriteLine($"  batch-1 decode step / floor = {single / floor:F2}");
            }
        }
    }
}
