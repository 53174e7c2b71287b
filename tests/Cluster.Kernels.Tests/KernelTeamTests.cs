namespace Cluster.Kernels.Tests;

/// <summary>
/// The kernel team's own contract: every part of a call runs exactly once, a team's very first call completes however
/// late its workers start, a team disposed while (or before) a call runs on it still completes the call, and the time a
/// caller waits for the other threads' parts is counted. A hang
/// here would hang a stage's device thread, so each check runs under a watchdog and fails naming where it stopped.
/// </summary>
public sealed unsafe class KernelTeamTests
{
    private static readonly TimeSpan Watchdog = TimeSpan.FromSeconds(60);
    private const int Threads = 24;

    [Fact]
    public void A_fresh_teams_first_call_completes_even_when_its_workers_start_late()
    {
        // The first call follows the constructor at once, often before the workers' threads have run a line (a fresh
        // silo's first kernel call creates the shared team): a worker that took the call's generation as its starting
        // point would wait for the next call forever, and the caller for it. The hook makes the late start certain.
        KernelTeam.WorkerStartDelayForTests = () => Thread.Sleep(50);
        try
        {
            var done = 0;
            RunWithWatchdog(() =>
            {
                for (var i = 0; i < 3; i++)
                {
                    using var team = new KernelTeam(3);
                    var counts = new int[3];
                    fixed (int* state = counts)
                    {
                        team.Run(&CountPart, state, 3);
                    }
                    Assert.True(counts.All(c => c == 1), $"Team {i}: parts ran {string.Join(", ", counts)} times, expected once each.");
                    done = i + 1;
                }
            }, () => $"after {done} of 3 fresh teams whose workers started 50 ms late");
        }
        finally
        {
            KernelTeam.WorkerStartDelayForTests = null;
        }
    }

    [Fact]
    public void Many_fresh_teams_with_more_threads_than_cores_each_complete_their_first_call()
    {
        var done = 0;
        RunWithWatchdog(() =>
        {
            for (var i = 0; i < 300; i++)
            {
                using var team = new KernelTeam(Threads);
                var counts = new int[Threads];
                fixed (int* state = counts)
                {
                    team.Run(&CountPart, state, Threads);
                }
                Assert.True(counts.All(c => c == 1), $"Team {i}: parts ran {string.Join(", ", counts)} times, expected once each.");
                done = i + 1;
            }
        }, () => $"after {done} of 300 fresh teams of {Threads} threads");
    }

    [Theory]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(4, 3)]
    [InlineData(4, 1)]
    public void Every_part_runs_exactly_once_per_call(int threads, int parts)
    {
        using var team = new KernelTeam(threads);
        var counts = new int[parts];
        RunWithWatchdog(() =>
        {
            fixed (int* state = counts)
            {
                for (var call = 0; call < 2000; call++)
                {
                    team.Run(&CountPart, state, parts);
                }
            }
        }, () => $"parts ran {string.Join(", ", counts)} times");
        Assert.True(counts.All(c => c == 2000), $"{threads} threads, {parts} parts: parts ran {string.Join(", ", counts)} times, expected 2000 each.");
    }

    [Fact]
    public void A_team_disposed_while_calls_run_on_it_still_completes_them()
    {
        // KernelTeam.UseSharedThreads replaces the shared team while another thread may hold the old one.
        var team = new KernelTeam(3);
        var counts = new int[3];
        var calls = 0;
        RunWithWatchdog(() =>
        {
            var caller = Task.Run(() =>
            {
                fixed (int* state = counts)
                {
                    for (var call = 0; call < 5000; call++)
                    {
                        team.Run(&CountPart, state, 3);
                        calls++;
                    }
                }
            });
            Thread.Sleep(5);
            team.Dispose();
            caller.GetAwaiter().GetResult();
        }, () => $"after {calls} calls");
        Assert.True(counts.All(c => c == 5000), $"Parts ran {string.Join(", ", counts)} times, expected 5000 each.");
    }

    [Fact]
    public void The_callers_wait_for_a_late_part_is_counted_as_kernel_wait()
    {
        // Part 1 sleeps 30 ms while the caller's part 0 returns at once: the caller cannot return before part 1 is
        // done, so the process-wide wait grows by at least the sleep (other tests' teams may add to both counters at
        // the same time, so these are lower bounds).
        using var team = new KernelTeam(2);
        var callsBefore = KernelTeam.SplitCalls;
        var waitBefore = KernelTeam.WaitSeconds;
        var counts = new int[2];
        RunWithWatchdog(() =>
        {
            fixed (int* state = counts)
            {
                team.Run(&SleepInPartOne, state, 2);
                team.Run(&CountPart, state, 2);
            }
        }, () => $"parts ran {string.Join(", ", counts)} times");
        var calls = KernelTeam.SplitCalls - callsBefore;
        var waited = KernelTeam.WaitSeconds - waitBefore;
        Assert.True(calls >= 2, $"SplitCalls grew by {calls} over two calls split over 2 threads.");
        Assert.True(waited >= 0.025, $"WaitSeconds grew by {waited * 1000:F1} ms while the caller waited for a part that slept 30 ms.");
    }

    private static void SleepInPartOne(void* state, int part, int parts)
    {
        if (part == 1)
        {
            Thread.Sleep(30);
        }
        CountPart(state, part, parts);
    }

    private static void CountPart(void* state, int part, int parts) => Interlocked.Increment(ref ((int*)state)[part]);

    private static void RunWithWatchdog(Action action, Func<string> progress)
    {
        var run = Task.Factory.StartNew(action, TaskCreationOptions.LongRunning);
        Assert.True(run.Wait(Watchdog), $"The kernel team hung: no return within {Watchdog.TotalSeconds} s, {progress()}.");
    }
}
