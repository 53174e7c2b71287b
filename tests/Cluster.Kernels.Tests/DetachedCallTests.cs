using Cluster.Engine.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Kernels.Tests;

/// <summary>
/// Calls the caller does not wait for (<see cref="KernelTeam.BeginDetached"/>, the one-row linear calls of a decode step):
/// the caller returns while a worker is held in the middle of its part, with every output row it needed; the worker
/// that comes back late changes nothing the caller can see; a slot goes to a new call, and <see cref="KernelTeam.Drain"/>
/// returns, only once no worker is inside; and the linear kernel's detached calls give the bits of its waited-for ones,
/// with the worker held mid-chunk or not. Each check runs under a watchdog: a hang names where it stopped.
/// </summary>
public sealed unsafe class DetachedCallTests
{
    private static readonly TimeSpan Watchdog = TimeSpan.FromSeconds(60);

    // The work of the team-level checks: part 0 (the caller) marks itself, part 1 waits for Release before marking.
    private static ManualResetEventSlim? _release;

    private static void MarkAfterRelease(void* state, int part, int parts)
    {
        if (part == 1)
        {
            _release!.Wait();
        }
        Interlocked.Increment(ref ((int*)state)[part]);
    }

    [Fact]
    public void The_caller_returns_while_a_worker_is_held_inside_its_part_and_the_slot_waits_for_it()
    {
        using var team = new KernelTeam(2);
        _release = new ManualResetEventSlim(false);
        var marks = (int*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(2 * sizeof(int));
        try
        {
            // Call 1: the worker enters and is held; the caller must come back without it.
            RunWithWatchdog(() =>
            {
                using var call = team.BeginDetached(64);
                *(int**)call.Payload = marks;
                call.Run(&MarkPayload, 2);
            }, () => "the first detached call did not return while its worker was held");
            SpinUntil(() => Volatile.Read(ref marks[1]) == 0 && WorkerIsInside(team), "the worker to enter the first call");

            // Calls 2-4 take the other slots; call 5 comes back to the first slot and must wait for the held worker.
            for (var call = 2; call <= 4; call++)
            {
                RunWithWatchdog(() =>
                {
                    using var detached = team.BeginDetached(64);
                    detached.Run(&Nothing, 1);
                }, () => "a detached call on a free slot did not return");
            }
            var fifth = Task.Factory.StartNew(() =>
            {
                using var detached = team.BeginDetached(64);
                detached.Run(&Nothing, 1);
            }, TaskCreationOptions.LongRunning);
            Assert.False(Finishes(fifth, TimeSpan.FromMilliseconds(200)), "A detached call took the held worker's slot before the worker left it.");
            _release.Set();
            Assert.True(Finishes(fifth, Watchdog), "The call waiting for the slot did not go on after the worker left it.");
            SpinUntil(() => Volatile.Read(ref marks[1]) == 1, "the released worker to finish its part");

            // The team goes on as before: a waited-for call runs every part once.
            var counts = new int[2];
            RunWithWatchdog(() =>
            {
                fixed (int* state = counts)
                {
                    team.Run(&CountPart, state, 2);
                }
            }, () => "a waited-for call after the detached ones did not return");
            Assert.True(counts.All(c => c == 1), $"Parts ran {string.Join(", ", counts)} times after the detached calls, expected once each.");
        }
        finally
        {
            _release.Set();
            team.Drain();
            System.Runtime.InteropServices.NativeMemory.Free(marks);
        }
    }

    [Fact]
    public void Drain_returns_only_after_a_late_worker_left_its_slot()
    {
        using var team = new KernelTeam(2);
        _release = new ManualResetEventSlim(false);
        var marks = (int*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(2 * sizeof(int));
        try
        {
            RunWithWatchdog(() =>
            {
                using var call = team.BeginDetached(64);
                *(int**)call.Payload = marks;
                call.Run(&MarkPayload, 2);
            }, () => "the detached call did not return while its worker was held");
            SpinUntil(() => WorkerIsInside(team), "the worker to enter the call");
            var drain = Task.Factory.StartNew(team.Drain, TaskCreationOptions.LongRunning);
            Assert.False(Finishes(drain, TimeSpan.FromMilliseconds(200)), "Drain returned while a worker was still inside a detached call.");
            _release.Set();
            Assert.True(Finishes(drain, Watchdog), "Drain did not return after the worker left.");
            Assert.Equal(1, Volatile.Read(ref marks[1]));
        }
        finally
        {
            _release.Set();
            System.Runtime.InteropServices.NativeMemory.Free(marks);
        }
    }

    // The payload's first 8 bytes point at the marks: part 0 marks at once, part 1 after the release.
    private static void MarkPayload(void* payload, int part, int parts) => MarkAfterRelease(*(int**)payload, part, parts);

    private static void Nothing(void* payload, int part, int parts)
    {
    }

    private static void CountPart(void* state, int part, int parts) => Interlocked.Increment(ref ((int*)state)[part]);

    private static bool WorkerIsInside(KernelTeam team) => team.WorkersInsideSlotsForTests() > 0;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_one_row_linear_call_gives_the_waited_for_bits_with_a_worker_held_mid_chunk_or_not(bool holdWorker)
    {
        using var scope = NewDisposeScope();
        using var team = new KernelTeam(2);
        var release = new ManualResetEventSlim(!holdWorker);
        var held = 0;
        LinearKernel.ChunkClaimedForTests = part =>
        {
            if (part == 1 && Interlocked.Exchange(ref held, 1) == 0)
            {
                release.Wait(); // the worker's first chunk: claimed, not computed, until released
            }
        };
        try
        {
            foreach (var (k, n, bf16) in new[] { (768, 2305, false), (2048, 768, false), (768, 3001, true) })
            {
                var x = torch.randn(1, k);                                          // (1, K)
                var w = bf16 ? torch.randn(n, k).to_type(ScalarType.BFloat16) : torch.randn(n, k); // (N, K)
                var bias = torch.randn(n);                                          // (N)
                var waited = torch.empty(1, n);
                var detached = torch.empty(1, n);
                for (var repeat = 0; repeat < 5; repeat++)
                {
                    held = 0;
                    LinearKernel.UseDetachedCalls = false;
                    Linear(x, w, bias, waited, team, bf16, weightsOutliveCall: true);
                    LinearKernel.UseDetachedCalls = true;
                    RunWithWatchdog(() => Linear(x, w, bias, detached, team, bf16, weightsOutliveCall: true),
                        () => $"K={k} N={n} bf16={bf16}: the detached call did not return while its worker was held");
                    var differing = waited.ne(detached).sum().item<long>();
                    Assert.True(differing == 0, $"K={k} N={n} bf16={bf16} held={holdWorker}, call {repeat}: {differing} of {n} outputs differ from the waited-for call's");
                    release.Set();  // the held worker finishes its chunk into the slot, after the caller took it over
                    team.Drain();   // and has left before w is reused or freed
                    if (holdWorker)
                    {
                        release.Reset();
                    }
                }
            }
        }
        finally
        {
            LinearKernel.ChunkClaimedForTests = null;
            LinearKernel.UseDetachedCalls = true;
            release.Set();
            team.Drain();
        }
    }

    private static void Linear(Tensor x, Tensor w, Tensor bias, Tensor y, KernelTeam team, bool bf16, bool weightsOutliveCall)
    {
        var (k, n) = ((int)w.shape[1], (int)w.shape[0]);
        if (bf16)
        {
            LinearKernel.BFloat16(Ptr(x), 1, k, (ushort*)TensorMemory.Address(w), n, Ptr(bias), Ptr(y), team, weightsOutliveCall: weightsOutliveCall);
        }
        else
        {
            LinearKernel.Float32(Ptr(x), 1, k, Ptr(w), n, Ptr(bias), Ptr(y), team, weightsOutliveCall: weightsOutliveCall);
        }
    }

    private static float* Ptr(Tensor t) => (float*)TensorMemory.Address(t);

    private static void SpinUntil(Func<bool> condition, string what)
    {
        Assert.True(SpinWait.SpinUntil(condition, Watchdog), $"Timed out after {Watchdog.TotalSeconds} s waiting for {what}.");
    }

    private static bool Finishes(Task task, TimeSpan within) => task.Wait(within);

    private static void RunWithWatchdog(Action action, Func<string> progress)
    {
        var run = Task.Factory.StartNew(action, TaskCreationOptions.LongRunning);
        Assert.True(Finishes(run, Watchdog), $"No return within {Watchdog.TotalSeconds} s: {progress()}.");
    }
}
