using System.Collections.Concurrent;
using System.Diagnostics;

namespace Cluster.LoadTest;

/// <summary>
/// Runs one level of a sweep through any front door: at a fixed concurrency (that many streams, each sending its next
/// request as soon as the previous one ends) or at a Poisson request rate (requests sent on schedule, however many are
/// in flight), until the level's request count or duration is reached. <c>send</c> sends one request and records it.
/// </summary>
public static class LevelDriver
{
    public static async Task<LevelResult> RunAsync(string target, LoadSettings settings, LoadLevel level,
        Func<PlannedRequest, CancellationToken, Task<RequestRecord>> send, Action<int>? progress, CancellationToken cancellation)
    {
        var workload = Workload.From(settings);
        // Warm-up requests have indices of their own (negative), so the measured ones are the same with or without them.
        await Task.WhenAll(Enumerable.Range(1, settings.WarmupRequests).Select(i => send(workload.At(-i), cancellation)));

        var total = settings.RequestsAt(level) ?? long.MaxValue;
        var duration = settings.DurationSeconds ?? double.PositiveInfinity;
        var records = new ConcurrentQueue<RequestRecord>();
        var done = 0;
        var clock = Stopwatch.StartNew();
        async Task Send(long index)
        {
            records.Enqueue(await send(workload.At(index), cancellation));
            progress?.Invoke(Interlocked.Increment(ref done));
        }

        if (level.Rate is { } rate)
        {
            var sent = new List<Task>();
            long index = 0;
            foreach (var arrival in new PoissonSchedule(rate, settings.Seed).ArrivalTimes())
            {
                if (index >= total || arrival >= duration)
                {
                    break;
                }
                var wait = arrival - clock.Elapsed.TotalSeconds;
                if (wait > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds(wait), cancellation);
                }
                sent.Add(Send(index++));
            }
            await Task.WhenAll(sent);
        }
        else
        {
            var next = -1L;
            await Task.WhenAll(Enumerable.Range(0, level.Concurrency ?? 1).Select(async _ =>
            {
                long index;
                while (clock.Elapsed.TotalSeconds < duration && (index = Interlocked.Increment(ref next)) < total)
                {
                    await Send(index);
                }
            }));
        }
        return LevelResult.From(target, level, clock.Elapsed.TotalSeconds, records.ToList(), settings.Slo, settings.SlowestRequests);
    }
}
