using ScottPlot;

namespace Cluster.LoadTest;

/// <summary>
/// The sweep as a chart: p50 and p99 TPOT (left axis) and TTFT (right axis) against output tokens per second, one
/// point per level and one line per target, written as a PNG (ScottPlot over SkiaSharp, headless).
/// </summary>
public static class LoadChart
{
    public static void WritePng(string path, IReadOnlyList<LevelResult> results, int width = 1000, int height = 600)
    {
        var plot = new Plot();
        foreach (var target in results.GroupBy(r => r.Target))
        {
            var levels = target.OrderBy(r => r.OutputTokensPerSecond).ToList();
            double[] throughput = levels.Select(r => r.OutputTokensPerSecond).ToArray();
            Add(plot, throughput, levels.Select(r => r.TimePerOutputToken.MedianMs), $"{target.Key} TPOT p50", LinePattern.Solid, right: false);
            Add(plot, throughput, levels.Select(r => r.TimePerOutputToken.P99Ms), $"{target.Key} TPOT p99", LinePattern.Dashed, right: false);
            Add(plot, throughput, levels.Select(r => r.TimeToFirstToken.MedianMs), $"{target.Key} TTFT p50", LinePattern.Solid, right: true);
            Add(plot, throughput, levels.Select(r => r.TimeToFirstToken.P99Ms), $"{target.Key} TTFT p99", LinePattern.Dashed, right: true);
        }
        plot.Title("Latency against throughput");
        plot.XLabel("output tokens/s");
        plot.Axes.Left.Label.Text = "TPOT (ms)";
        plot.Axes.Right.Label.Text = "TTFT (ms)";
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, width, height);
    }

    private static void Add(Plot plot, double[] xs, IEnumerable<double> ys, string label, LinePattern pattern, bool right)
    {
        var scatter = plot.Add.Scatter(xs, ys.ToArray());
        scatter.LegendText = label;
        scatter.LinePattern = pattern;
        scatter.MarkerSize = 7;
        if (right)
        {
            scatter.Axes.YAxis = plot.Axes.Right;
        }
    }
}
