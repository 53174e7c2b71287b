using System.Runtime.InteropServices;

namespace Cluster.Kernels;

/// <summary>
/// A per-thread scratch buffer for one kernel (<typeparamref name="TOwner"/>: each owner type gets its own, so two
/// kernels never share one): 64-byte aligned, grown when a call needs more, kept for the thread's life (the silo's
/// compute thread calls every linear layer of every step, and a step needs at most a few rows of x's size).
/// </summary>
internal static unsafe class ThreadScratch<TOwner>
{
    [ThreadStatic] private static byte* _buffer;
    [ThreadStatic] private static long _capacity;

    /// <summary>At least <paramref name="bytes"/> bytes, valid on this thread until its next call.</summary>
    public static byte* Rent(long bytes)
    {
        if (bytes > _capacity)
        {
            NativeMemory.AlignedFree(_buffer);
            _buffer = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            _capacity = bytes;
        }
        return _buffer;
    }
}
