using System.Globalization;
using System.Text;

namespace Cluster.PeerBenchmark.Benchmark;

/// <summary>The report as one Markdown table: a row per metric, a column per runner, then a column per ours ÷ llama.cpp ratio.</summary>
public static class MarkdownTable
{
    public static string Render(PeerReport report)
    {
        var o = report.Options;
        var sb = new StringBuilder();
        sb.AppendLine(Invariant($"Same weights, one run: {report.Checkpoint} ({report.DecodeWeightCount / 1e6:F1} M weights read per decode step), {o.Threads} threads, greedy, {o.PromptTokens}-token prompts, {o.NewTokens} generated tokens; {report.Machine}; {report.StartedAt:u}."));
        sb.AppendLine(o.PeersInProcess
            ? Invariant($"llama.cpp ran in this process, under the OpenMP wait policy our engine set (OMP_WAIT_POLICY={Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") ?? "PASSIVE"}).")
            : Invariant($"llama.cpp ran in child processes (OMP_WAIT_POLICY {o.PeerWaitPolicy ?? "unset: libgomp's default"}), our engine in this one (PASSIVE, which it sets): each runtime under its own OpenMP setting, in one run."));
        if (o.Cluster)
        {
            sb.AppendLine("The cluster rows: scripts/cluster-local.sh on loopback (silo processes and the gateway, on the same cores as this process), every stream a gRPC Generate with token ids, all sent at once; decode is each stream's time from its first token to its last (its own prefill left out, as in the lockstep rows; other streams' prefill steps in between counted), averaged over the streams. Each cluster runs alone, after the other rows, and is timed twice between two timings of the engine variant it runs (the \"timed beside\" rows: engine, cluster, cluster, engine, each row the mean of its two); its ratio to the engine divides by that row.");
        }
        sb.AppendLine(Invariant($"Decode figures exclude the prefill step; memory read bandwidth measured in this run: {report.MemoryReadGigabytesPerSecond:F1} GB/s."));
        sb.AppendLine();

        var headers = new List<string> { "" };
        headers.AddRange(report.Runners.Select(r => r.Name));
        headers.AddRange(report.Ratios.Select(c => $"{c.Ours} ÷ {c.Reference}"));
        sb.AppendLine("| " + string.Join(" | ", headers) + " |");
        sb.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", headers.Count - 1)));

        foreach (var streams in o.Streams)
        {
            var metric = MetricNames.Decode(streams);
            var unit = streams == 1 ? "ms/token" : "ms/step";
            var cells = report.Runners.Select(r => r.Decode.Single(d => d.Streams == streams)).Select(d => Invariant($"{d.TokensPerSecond:F1} tok/s ({d.MillisecondsPerStep:F1} {unit})"));
            AppendRow(sb, metric, cells, report, metric);
        }
        AppendRow(sb, $"{o.PrefillTokens}-token prefill", report.Runners.Select(r => Invariant($"{r.PrefillTokensPerSecond:F0} tok/s")), report, MetricNames.Prefill);
        AppendRow(sb, "bandwidth floor (batch 1)", report.Runners.Select(r =>
            Invariant($"{r.FloorMillisecondsPerToken:F1} ms/token ({r.BytesPerWeight:0.###} B/weight)") + (r.FloorShare is { } s ? Invariant($"; batch 1 at {100 * s:F0}% of it") : "")), report, MetricNames.Floor);

        sb.AppendLine();
        sb.AppendLine("Greedy tokens:");
        foreach (var a in report.Agreements)
        {
            sb.AppendLine(Invariant($"- {a.What}, {a.Other} vs {a.Reference}: {a.IdenticalSequences}/{a.Sequences} sequences identical, {a.EqualTokens}/{a.Sequences * a.TokensEach} tokens equal") +
                (a.FirstDifferenceStep >= 0 ? Invariant($" (first difference at step {a.FirstDifferenceStep})") : "") + (a.Required ? ", required identical" : ""));
        }
        return sb.ToString();
    }

    private static void AppendRow(StringBuilder sb, string label, IEnumerable<string> cells, PeerReport report, string metric)
    {
        var ratios = report.Ratios.Select(c => c.ByMetric.TryGetValue(metric, out var v) ? Invariant($"{v:F2}×") : "–");
        sb.AppendLine("| " + string.Join(" | ", new[] { label }.Concat(cells).Concat(ratios)) + " |");
    }

    private static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
