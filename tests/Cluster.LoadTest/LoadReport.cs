using System.Text.Json;
using Spectre.Console;

namespace Cluster.LoadTest;

/// <summary>The results as a console table (one row per target and concurrency) and as JSON for machines.</summary>
public static class LoadReport
{
    public static void Print(IReadOnlyList<LevelResult> results)
    {
        if (Console.IsOutputRedirected)
        {
            AnsiConsole.Profile.Width = 240; // a log file gets the whole row, not a wrapped 80-column table
        }
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("target", "conc.", "done", "errors", "req/s", "out tok/s", "TTFT mean/p50/p99 ms", "TPOT mean/p50/p99 ms", "ITL p50/p99 ms", "E2E p50/p99 ms", "hop overhead mean/p50 ms", "compute/step ms");
        foreach (var r in results)
        {
            table.AddRow(r.Target, r.Concurrency.ToString(), r.Completed.ToString(),
                r.ErrorsByStatus.Count == 0 ? "0" : string.Join(", ", r.ErrorsByStatus.Select(e => $"{e.Key}: {e.Value}")),
                r.RequestsPerSecond.ToString("F2"), r.OutputTokensPerSecond.ToString("F1"),
                $"{r.TimeToFirstToken.MeanMs:F1} / {r.TimeToFirstToken.MedianMs:F1} / {r.TimeToFirstToken.P99Ms:F1}",
                $"{r.TimePerOutputToken.MeanMs:F2} / {r.TimePerOutputToken.MedianMs:F2} / {r.TimePerOutputToken.P99Ms:F2}",
                $"{r.InterTokenLatency.MedianMs:F2} / {r.InterTokenLatency.P99Ms:F2}",
                $"{r.EndToEnd.MedianMs:F0} / {r.EndToEnd.P99Ms:F0}",
                r.HopOverhead.Count == 0 ? "-" : $"{r.HopOverhead.MeanMs:F3} / {r.HopOverhead.MedianMs:F3}",
                r.ComputePerStep.Count == 0 ? "-" : $"{r.ComputePerStep.MeanMs:F1}");
        }
        AnsiConsole.Write(table);
    }

    public static void WriteJson(string path, IReadOnlyList<LevelResult> results)
    {
        var rows = results.Select(r => new
        {
            r.Target, r.Concurrency, r.DurationSeconds, r.Completed, r.ErrorsByStatus, r.PromptTokens, r.OutputTokens,
            r.RequestsPerSecond, r.OutputTokensPerSecond, r.TotalTokensPerSecond,
            r.TimeToFirstToken, r.TimePerOutputToken, r.InterTokenLatency, r.EndToEnd, r.HopOverhead, r.ComputePerStep,
        });
        File.WriteAllText(path, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
    }
}
