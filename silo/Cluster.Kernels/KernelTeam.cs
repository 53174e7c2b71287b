using System.Diagnostics;

namespace Cluster.Kernels;

/// <summary>
/// A small persistent team of threads that run one piece of work in parts: the caller runs part 0, the
/// workers parts 1..n-1. A decode step makes ~50 kernel calls of 0.1–1 ms; <c>Parallel.For</c> costs tens of
/// microseconds per call (task queueing, wake-ups), so the workers spin briefly after each call, then yield,
/// then block on a semaphore, and the caller waits for them by spinning (the linear, attention and sampling calls
/// hand out their work in <see cref="WorkChunks"/>, so their parts end together; the SwiGLU gate's equal shares of
/// uniform element-wise work do too unless a thread loses its core). One call at a time: concurrent callers are
/// serialized.
/// </summary>
public sealed unsafe class KernelTeam : IDisposable
{
    // Spinning keeps a worker ready for the next call of the same step; yielding lets other runnable threads
    // (libtorch's OpenMP workers between our calls) have the core; then the worker sleeps until woken.
    private static readonly long SpinTicks = Stopwatch.Frequency / 20_000;  // 50 µs
    private static readonly long YieldTicks = Stopwatch.Frequency / 1_000;  // 1 ms

    private static KernelTeam? _shared;
    private static long _splitCalls;
    private static long _waitTicks;
    private static readonly Lock SharedGate = new();

    private readonly Worker[] _workers;
    private readonly Lock _gate = new();
    private delegate*<void*, int, int, void> _work;
    private void* _state;
    private int _generation;
    private int _parts;
    private int _remaining;
    private Exception? _failure;
    private volatile bool _disposed;

    /// <summary>Runs at the start of every new worker thread: lets a test start the workers late.</summary>
    internal static Action? WorkerStartDelayForTests;

    /// <param name="threads">Threads that compute, the caller's included; at least 1.</param>
    public KernelTeam(int threads)
    {
        if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), $"A kernel team needs at least 1 thread, was {threads}.");
        }
        Threads = threads;
        _workers = new Worker[threads - 1];
        for (var i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Worker(this, i + 1);
        }
    }

    /// <summary>Threads that compute, the caller's included.</summary>
    public int Threads { get; }

    /// <summary>Calls split over more than one thread, by every team of this process since it started.</summary>
    public static long SplitCalls => Volatile.Read(ref _splitCalls);

    /// <summary>
    /// Seconds the callers of those calls spent waiting, after their own part, for the other threads' parts. A part's
    /// chunks can be taken over but the chunk in a thread's hands cannot, so when another process or thread takes a
    /// core from a kernel thread for a moment, the caller waits for it: this is where a silo sees its cores shared
    /// (docs/PERFORMANCE.md, "the cluster timed beside the engine": about 5 µs a call alone, 15-20 µs beside a
    /// program that takes 22 % of one core, as much as the step slowed).
    /// </summary>
    public static double WaitSeconds => Volatile.Read(ref _waitTicks) / (double)Stopwatch.Frequency;

    /// <summary>
    /// The process-wide team every kernel of a step runs on (one team, so two kernels never compete for the cores):
    /// one thread per core unless <see cref="UseSharedThreads"/> said otherwise.
    /// </summary>
    public static KernelTeam Shared
    {
        get
        {
            if (Volatile.Read(ref _shared) is { } team)
            {
                return team;
            }
            lock (SharedGate)
            {
                return _shared ??= new KernelTeam(Environment.ProcessorCount);
            }
        }
    }

    /// <summary>Sets the number of threads of the shared team (the caller's included); replaces the team if it differs.</summary>
    public static void UseSharedThreads(int threads)
    {
        if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), $"Kernel threads must be at least 1, was {threads}.");
        }
        lock (SharedGate)
        {
            if (_shared?.Threads == threads)
            {
                return;
            }
            var old = _shared;
            _shared = new KernelTeam(threads);
            old?.Dispose();
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/>(state, part, parts) for part 0..parts-1 at once; returns when all are done. On a
    /// disposed team (the shared team replaced while a caller still held it) the caller runs every part itself.
    /// </summary>
    public void Run(delegate*<void*, int, int, void> work, void* state, int parts)
    {
        if (parts < 1 || parts > Threads)
        {
            throw new ArgumentOutOfRangeException(nameof(parts), $"Parts must be between 1 and the team's {Threads} threads, was {parts}.");
        }
        if (parts == 1)
        {
            work(state, 0, 1);
            return;
        }
        lock (_gate)
        {
            if (_disposed)
            {
                for (var part = 0; part < parts; part++)
                {
                    work(state, part, parts);
                }
                return;
            }
            _work = work;
            _state = state;
            _failure = null;
            Volatile.Write(ref _remaining, parts - 1);
            _parts = parts;
            Interlocked.Increment(ref _generation);
            foreach (var worker in _workers)
            {
                worker.WakeIfSleeping();
            }
            try
            {
                work(state, 0, parts);
            }
            finally
            {
                Interlocked.Increment(ref _splitCalls);
                if (Volatile.Read(ref _remaining) != 0)
                {
                    var waitStart = Stopwatch.GetTimestamp();
                    var spinner = new SpinWait();
                    while (Volatile.Read(ref _remaining) != 0)
                    {
                        spinner.SpinOnce(sleep1Threshold: -1);
                    }
                    Interlocked.Add(ref _waitTicks, Stopwatch.GetTimestamp() - waitStart);
                }
            }
            if (_failure is { } failure)
            {
                throw new AggregateException("A kernel worker failed.", failure);
            }
        }
    }

    /// <summary>Stops the workers once the call in flight (if any) is done; later calls run on the caller.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            Interlocked.Increment(ref _generation);
            foreach (var worker in _workers)
            {
                worker.WakeIfSleeping();
            }
        }
    }

    private sealed class Worker
    {
        private readonly KernelTeam _team;
        private readonly int _part;
        private readonly SemaphoreSlim _wake = new(0);
        private int _sleeping;

        public Worker(KernelTeam team, int part)
        {
            _team = team;
            _part = part;
            // The generation this worker starts from is the team's at construction, passed in rather than read by
            // the new thread: the first call may come (and bump the generation) before the thread runs a line, and
            // a worker that took that call's generation as its starting point would wait for the next call forever.
            var start = Volatile.Read(ref team._generation);
            new Thread(() => Loop(start)) { IsBackground = true, Name = $"Cluster.Kernels worker {part}" }.Start();
        }

        public void WakeIfSleeping()
        {
            if (Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1)
            {
                _wake.Release();
            }
        }

        private void Loop(int seen)
        {
            WorkerStartDelayForTests?.Invoke();
            while (true)
            {
                seen = WaitForNext(seen);
                if (_team._disposed)
                {
                    return;
                }
                if (_part < _team._parts)
                {
                    try
                    {
                        _team._work(_team._state, _part, _team._parts);
                    }
                    catch (Exception e)
                    {
                        Interlocked.CompareExchange(ref _team._failure, e, null);
                    }
                    Interlocked.Decrement(ref _team._remaining);
                }
            }
        }

        private int WaitForNext(int seen)
        {
            var start = Stopwatch.GetTimestamp();
            while (true)
            {
                var generation = Volatile.Read(ref _team._generation);
                if (generation != seen)
                {
                    return generation;
                }
                var waited = Stopwatch.GetTimestamp() - start;
                if (waited < SpinTicks)
                {
                    Thread.SpinWait(20);
                }
                else if (waited < SpinTicks + YieldTicks)
                {
                    Thread.Yield();
                }
                else
                {
                    Interlocked.Exchange(ref _sleeping, 1); // a full fence: the read below cannot move above it
                    if (Volatile.Read(ref _team._generation) != seen && Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1)
                    {
                        continue; // a call came in while going to sleep, and nobody will release us: take it
                    }
                    _wake.Wait(); // released by WakeIfSleeping, which cleared _sleeping
                    start = Stopwatch.GetTimestamp();
                }
            }
        }
    }
}
