using System.Text.Json;

namespace Cluster.LoadTest.Tests;

public sealed class LoadReportTests
{
    internal static IReadOnlyList<LevelResult> SampleSweep(ServiceLevelObjectives? objectives = null)
    {
        var results = new List<LevelResult>();
        foreach (var (rate, scale) in new[] { (1.0, 1.0), (4.0, 1.5), (16.0, 3.0) })
        {
            var records = Enumerable.Range(0, 40)
                .Select(i => Records.Ok(ttft: scale * (0.020 + i * 0.001), tpot: scale * (0.005 + i * 0.0001), tokens: 16, traceId: $"{(int)rate:x2}{i:x30}"))
                .Append(RequestRecord.Failed(0.003, "ResourceExhausted", "ff" + new string('e', 30)))
                .ToList();
            results.Add(LevelResult.From("gateway", LoadLevel.AtRate(rate), durationSeconds: 40 / rate, records, objectives, slowest: 3));
        }
        results.Add(LevelResult.From("engine", LoadLevel.AtConcurrency(8), 2, [.. Enumerable.Range(0, 8).Select(i => Records.Ok(0.01, 0.004, 16))]));
        return results;
    }

    [Fact]
    public void The_json_round_trips_and_lists_the_slowest_requests_with_trace_ids()
    {
        var results = SampleSweep(new ServiceLevelObjectives(TimeToFirstTokenMs: 50));
        var path = Path.GetTempFileName();
        try
        {
            LoadReport.WriteJson(path, results);
            var written = File.ReadAllText(path);
            var read = LoadReport.ReadJson(path);

            Assert.Equal(written, JsonSerializer.Serialize(read, new JsonSerializerOptions { WriteIndented = true }));
            Assert.Equal(results.Count, read.Count);
            var first = read[0];
            Assert.Equal(1.0, first.Rate);
            Assert.Null(first.Concurrency);
            Assert.Equal(40, first.Completed);
            Assert.Equal(1, first.ErrorsByStatus["ResourceExhausted"]);
            Assert.Equal(results[0].TimeToFirstToken, first.TimeToFirstToken);
            Assert.Equal(results[0].GoodRequests, first.GoodRequests);
            // The slowest by end-to-end latency, slowest first: requests 39, 38, 37 of the level.
            Assert.Equal(["01" + 39.ToString("x30"), "01" + 38.ToString("x30"), "01" + 37.ToString("x30")], first.Slowest.Select(s => s.TraceId));
            Assert.True(first.Slowest.Zip(first.Slowest.Skip(1)).All(p => p.First.EndToEndMs >= p.Second.EndToEndMs),
                $"slowest not in descending order: {string.Join(", ", first.Slowest.Select(s => s.EndToEndMs))}");
            using var document = JsonDocument.Parse(written);
            var level = document.RootElement[0];
            foreach (var field in new[] { "RequestsPerSecond", "OutputTokensPerSecond", "TotalTokensPerSecond", "GoodputRequestsPerSecond", "TimeToFirstToken", "TimePerOutputToken", "InterTokenLatency", "EndToEnd", "ErrorsByStatus", "Slowest" })
            {
                Assert.True(level.TryGetProperty(field, out _), $"the JSON lacks {field}: {level}");
            }
            Assert.Equal("01" + 39.ToString("x30"), level.GetProperty("Slowest")[0].GetProperty("TraceId").GetString());
            Assert.Equal(8, read[3].Concurrency);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void The_console_report_prints_without_failing()
    {
        var writer = new StringWriter();
        var console = Spectre.Console.AnsiConsole.Console;
        Spectre.Console.AnsiConsole.Console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(writer) });
        try
        {
            Spectre.Console.AnsiConsole.Profile.Width = 300;
            LoadReport.Print(SampleSweep(new ServiceLevelObjectives(EndToEndMs: 200)));
        }
        finally
        {
            Spectre.Console.AnsiConsole.Console = console;
        }
        var text = writer.ToString();
        Assert.True(text.Contains("01" + 39.ToString("x30")) && text.Contains("16/s") && text.Contains("c=8"), $"the report lacks the slowest trace id or a level:\n{text}");
    }
}
