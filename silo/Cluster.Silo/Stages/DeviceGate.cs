namespace Cluster.Silo.Stages;

/// <summary>
/// One forward pass at a time on this silo's device: libtorch's CPU thread pool is process-wide, so stages computing
/// at once would only oversubscribe the cores (and on a GPU, contend for it). A singleton per silo.
/// </summary>
public sealed class DeviceGate : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>
    /// Runs <paramref name="work"/> synchronously on a thread-pool thread once the device is free. Synchronous on
    /// purpose: dispose scopes and inference mode are per thread, so the work must not await inside them.
    /// </summary>
    public async Task<T> RunAsync<T>(Func<T> work)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            return await Task.Run(work).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();
}
