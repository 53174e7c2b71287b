using System.Text.Json;
using Spectre.Console;

namespace Cluster.LoadTest;

/// <summary>The results as console tables (one row per target and level; the slowest requests with their trace ids) and as JSON for machines.</summary>
public static class LoadReport
{
    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    public static void Print(IReadOnlyList<LevelResult> results)
    {
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 240; // a log file gets the whole row, not a wrapped 80-column table
        }
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("target", "level", "done", "errors", "req/s", "goodput req/s", "out tok/s", "prefix hit", "TTFT mean/p50/p90/p99 ms", "TPOT mean/p50/p90/p99 ms", "ITL mean/p50/p90/p99 ms", "E2E mean/p50/p90/p99 ms", "hop overhead mean/p50 ms", "compute/step ms");
        foreach (var r in results)
        {
            table.AddRow(r.Target, r.Level, r.Completed.ToString(),
                r.ErrorsByStatus.Count == 0 ? "0" : Markup.Escape(string.Join(", ", r.ErrorsByStatus.Select(e => $"{e.Key}: {e.Value}"))),
                r.RequestsPerSecond.ToString("F2"), r.GoodputRequestsPerSecond?.ToString("F2") ?? "-", r.OutputTokensPerSecond.ToString("F1"),
                r.PromptTokens > 0 ? r.PrefixCacheHitRate.ToString("P1", System.Globalization.CultureInfo.InvariantCulture) : "-",
                Summary(r.TimeToFirstToken, "F1"), Summary(r.TimePerOutputToken, "F2"), Summary(r.InterTokenLatency, "F2"), Summary(r.EndToEnd, "F0"),
                r.HopOverhead.Count == 0 ? "-" : $"{r.HopOverhead.MeanMs:F3} / {r.HopOverhead.MedianMs:F3}",
                r.ComputePerStep.Count == 0 ? "-" : $"{r.ComputePerStep.MeanMs:F1}");
        }
        AnsiConsole.Write(table);

        var slowest = new Table().Border(TableBorder.Rounded).Title("slowest requests (look up the trace id in Jaeger)")
            .AddColumns("target", "level", "E2E ms", "TTFT ms", "TPOT ms", "tokens", "status", "trace id");
        foreach (var r in results)
        {
            foreach (var s in r.Slowest)
            {
                slowest.AddRow(r.Target, r.Level, s.EndToEndMs.ToString("F0"), s.TimeToFirstTokenMs.ToString("F1"),
                    s.TimePerOutputTokenMs?.ToString("F2") ?? "-", s.OutputTokens.ToString(), Markup.Escape(s.Error ?? "OK"), s.TraceId ?? "-");
            }
        }
        if (slowest.Rows.Count > 0)
        {
            AnsiConsole.Write(slowest);
        }
    }

    private static string Summary(LatencySummary s, string format) =>
        s.Count == 0 ? "-" : $"{s.MeanMs.ToString(format)} / {s.MedianMs.ToString(format)} / {s.P90Ms.ToString(format)} / {s.P99Ms.ToString(format)}";

    public static void WriteJson(string path, IReadOnlyList<LevelResult> results) =>
        File.WriteAllText(path, JsonSerializer.Serialize(results, JsonOptions));

    public static IReadOnlyList<LevelResult> ReadJson(string path) =>
        JsonSerializer.Deserialize<List<LevelResult>>(File.ReadAllText(path), JsonOptions) ?? throw new InvalidDataException($"'{path}' holds no results.");
}
