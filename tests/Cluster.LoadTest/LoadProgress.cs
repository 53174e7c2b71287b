using Spectre.Console;

namespace Cluster.LoadTest;

/// <summary>
/// Shows a level's progress while it runs: a Spectre.Console progress bar on a terminal, plain lines (about every
/// tenth of the level, or every 50 requests when only a duration bounds it) when the output is redirected to a log.
/// </summary>
public static class LoadProgress
{
    public static async Task<T> RunAsync<T>(string description, int? total, Func<Action<int>, Task<T>> run)
    {
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            Console.WriteLine($"{description}: {(total is { } n ? $"{n} requests" : "until the duration ends")}...");
            var step = total is { } count ? Math.Max(1, (count + 9) / 10) : 50;
            var result = await run(done =>
            {
                if (done % step == 0)
                {
                    Console.WriteLine($"{description}: {done}{(total is { } n ? $"/{n}" : "")} done");
                }
            });
            return result;
        }
        return await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(description), maxValue: total ?? 1);
                task.IsIndeterminate = total is null;
                var result = await run(done =>
                {
                    if (total is null)
                    {
                        task.Description = Markup.Escape($"{description}: {done} done");
                    }
                    else
                    {
                        task.Value = done;
                    }
                });
                task.IsIndeterminate = false;
                task.Value = task.MaxValue;
                return result;
            });
    }
}
