using System.Collections.Concurrent;
using System.Diagnostics;

namespace Cluster.Silo.Stages;

/// <summary>
/// The silo's device thread: every forward pass runs on this one dedicated thread, one at a time. One at a time
/// because libtorch's CPU thread pool is process-wide (stages computing at once would oversubscribe the cores, and
/// on a GPU contend for it). One thread because libtorch's OpenMP keeps a worker team per calling thread: passes
/// arriving on ever-different pool threads leave several teams competing for the same cores (measured in
/// docs/PERFORMANCE.md: a decode step of 8 sequences of GPT-2 small, 57 ms from one thread, 85 ms from pool threads).
/// A singleton per silo.
/// </summary>
public sealed class DeviceGate : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread _thread;
    private long _lastEnd; // Stopwatch timestamp when the previous pass ended; 0 before the first

    public DeviceGate()
    {
        _thread = new Thread(RunQueue) { IsBackground = true, Name = "Cluster device" };
        _thread.Start();
    }

    /// <summary>
    /// Runs <paramref name="work"/> synchronously on the device thread once the passes queued before it are done.
    /// Synchronous on purpose: dispose scopes and inference mode are per thread, so the work must not await inside them.
    /// </summary>
    public Task<T> RunAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        });
        return done.Task;
    }

    /// <summary>
    /// On the device thread, inside a pass: how long the device sat idle between the end of the pass before and the
    /// start of this one (zero for the first). What the hand-over between two steps costs the device.
    /// </summary>
    public TimeSpan IdleBefore { get; private set; }

    private void RunQueue()
    {
        foreach (var work in _work.GetConsumingEnumerable())
        {
            IdleBefore = _lastEnd == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_lastEnd);
            work();
            _lastEnd = Stopwatch.GetTimestamp();
        }
    }

    public void Dispose()
    {
        _work.CompleteAdding();
        _thread.Join();
        _work.Dispose();
    }
}
