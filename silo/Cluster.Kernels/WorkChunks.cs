namespace Cluster.Kernels;

/// <summary>
/// A call's work as chunks 0..count-1 split into equal shares, one per part of a <see cref="KernelTeam"/> call. Each
/// part claims its own share's chunks in order (one contiguous stream through memory, as a static split gives), then
/// claims the chunks still unclaimed in the other shares: a part that starts late or loses its core for a while
/// leaves the rest of its share to the others instead of holding the whole call up. Each share's counter sits on its
/// own cache line, so claiming from one's own share does not move a line between cores.
/// </summary>
public unsafe struct WorkChunks
{
    private const int LineInts = 64 / sizeof(int);

    private int* _next;   // share s's next chunk, relative to its start, at _next[s * LineInts]
    private int _count;
    private int _shares;

    /// <summary>Bytes of scratch memory <see cref="Create"/> needs for <paramref name="shares"/> shares.</summary>
    public static int ScratchBytes(int shares) => (shares + 1) * 64;

    /// <param name="scratch">At least <see cref="ScratchBytes"/> bytes the call owns until every part is done.</param>
    public static WorkChunks Create(byte* scratch, int count, int shares)
    {
        var aligned = (int*)(((nint)scratch + 63) & ~(nint)63);
        for (var s = 0; s < shares; s++)
        {
            aligned[s * LineInts] = 0;
        }
        return new WorkChunks { _next = aligned, _count = count, _shares = shares };
    }

    /// <summary>
    /// The next chunk for part <paramref name="part"/>: from its own share while any is left, then from the others'.
    /// <paramref name="cursor"/> starts at 0 and is the caller's between calls (how many shares it has emptied).
    /// </summary>
    public bool TryClaim(int part, ref int cursor, out int chunk)
    {
        for (; cursor < _shares; cursor++)
        {
            var share = (part + cursor) % _shares;
            var start = (int)((long)_count * share / _shares);
            var end = (int)((long)_count * (share + 1) / _shares);
            var next = start + Interlocked.Increment(ref _next[share * LineInts]) - 1;
            if (next < end)
            {
                chunk = next;
                return true;
            }
        }
        chunk = -1;
        return false;
    }
}
