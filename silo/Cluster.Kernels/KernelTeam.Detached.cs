using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Cluster.Kernels;

/// <summary>
/// Calls the caller does not wait for (<see cref="BeginDetached"/>). In a split call the caller finishes its share,
/// takes the chunks no one has claimed, and then waits for the chunk each other thread holds. When another process or
/// thread has taken a worker's core for a moment, that wait is the whole moment: a one-stage silo at one stream spent
/// 1.1 ms a token of 5.5 in it, its gateway and client working on the same cores (docs/PERFORMANCE.md, "the cluster
/// timed beside the engine"). A detached call's caller instead computes the chunks still held by others itself and
/// returns. For that, nothing a late worker touches may belong to the caller: the call's inputs, its work list and
/// its output rows live in a slot of the team's own, which is handed to a later call only once no worker is inside it,
/// and the caller copies the outputs from the slot. What the call reads that is not in the slot (weights, biases)
/// must outlive it until <see cref="Drain"/>: the owners of such memory drain the team before freeing it.
/// </summary>
public sealed unsafe partial class KernelTeam
{
    /// <summary>Slots in the ring: a slot comes back to a caller every this many detached calls.</summary>
    private const int SlotCount = 4;

    private readonly DetachedSlot?[] _slots = new DetachedSlot?[SlotCount];
    private int _nextSlot;
    private Exception? _lateFailure;

    /// <summary>Adds a caller's wait for other threads' work to <see cref="WaitSeconds"/> (a detached call's kernel times its own).</summary>
    public static void AddWait(long stopwatchTicks) => Interlocked.Add(ref _waitTicks, stopwatchTicks);

    /// <summary>
    /// Starts a detached call: takes the team (other callers wait until <see cref="DetachedCall.Dispose"/>) and a slot
    /// of at least <paramref name="payloadBytes"/> bytes, 64-byte aligned, for the caller to fill before
    /// <see cref="DetachedCall.Run"/>. The payload's contents are the caller's to lay out; it stays valid until the
    /// call is disposed, and for the late workers inside it after that.
    /// </summary>
    public DetachedCall BeginDetached(long payloadBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(payloadBytes);
        _gate.Enter();
        try
        {
            if (_lateFailure is { } late)
            {
                _lateFailure = null;
                throw new AggregateException("A kernel worker failed in an earlier detached call.", late);
            }
            if (_disposed)
            {
                // The caller runs the whole call itself, on memory of its own.
                return new DetachedCall(this, null, (byte*)NativeMemory.AlignedAlloc((nuint)payloadBytes, 64));
            }
            var slot = _slots[_nextSlot] ??= new DetachedSlot();
            _nextSlot = (_nextSlot + 1) % SlotCount;
            slot.Claim(payloadBytes);
            return new DetachedCall(this, slot, slot.Payload);
        }
        catch
        {
            _gate.Exit();
            throw;
        }
    }

    /// <summary>Waits until no worker is inside a detached call's slot, and keeps late workers out of the slots after it.</summary>
    public void Drain()
    {
        lock (_gate)
        {
            foreach (var slot in _slots)
            {
                slot?.Close();
            }
        }
    }

    /// <summary>Workers inside a detached call's slot now.</summary>
    internal int WorkersInsideSlotsForTests()
    {
        var inside = 0;
        foreach (var slot in _slots)
        {
            inside += slot is null ? 0 : Volatile.Read(ref slot.Header->Inside);
        }
        return inside;
    }

    /// <summary>Drains the shared team, if one was made (see <see cref="Drain"/>).</summary>
    public static void DrainShared() => Volatile.Read(ref _shared)?.Drain();

    /// <summary>Runs a detached call published in <paramref name="slot"/> (null: on a disposed team, the caller alone).</summary>
    private void RunDetached(DetachedSlot? slot, delegate*<void*, int, int, void> work, byte* payload, int parts)
    {
        if (parts < 1 || parts > Threads)
        {
            throw new ArgumentOutOfRangeException(nameof(parts), $"Parts must be between 1 and the team's {Threads} threads, was {parts}.");
        }
        if (slot is not null && parts > 1)
        {
            var ticket = slot.Open();
            Publish(work, payload, parts, slot.Header, ticket);
            Interlocked.Increment(ref _splitCalls);
        }
        work(payload, 0, parts); // part 0 of a detached call returns once every chunk is done, by whichever thread
    }

    /// <summary>Closes and frees every slot (on disposal, with the gate held).</summary>
    private void FreeSlots()
    {
        for (var i = 0; i < _slots.Length; i++)
        {
            _slots[i]?.Close();
            _slots[i]?.Free();
            _slots[i] = null;
        }
    }

    /// <summary>A slot's header: how many workers are inside, and the ticket of the call they may enter.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 64)]
    internal struct SlotHeader
    {
        public int Inside;
        public int Ticket;

        /// <summary>Enters for the call of <paramref name="ticket"/>; false when the slot has moved on to another call.</summary>
        public bool TryEnter(int ticket)
        {
            Interlocked.Increment(ref Inside);
            if (Volatile.Read(ref Ticket) == ticket)
            {
                return true;
            }
            Interlocked.Decrement(ref Inside);
            return false;
        }

        public void Leave() => Interlocked.Decrement(ref Inside);
    }

    /// <summary>One slot of the ring: its header (never moved, so a late worker's count stays valid) and its payload.</summary>
    internal sealed class DetachedSlot
    {
        public SlotHeader* Header { get; } = (SlotHeader*)NativeMemory.AlignedAlloc((nuint)sizeof(SlotHeader), 64);
        public byte* Payload { get; private set; }
        private long _capacity;

        public DetachedSlot() => *Header = default;

        /// <summary>
        /// Makes the slot the caller's: a new ticket first, so that no worker enters for the call before, then the wait
        /// for those still inside (counted as kernel wait), then room for the payload.
        /// </summary>
        public void Claim(long payloadBytes)
        {
            Close();
            if (payloadBytes > _capacity)
            {
                NativeMemory.AlignedFree(Payload);
                Payload = (byte*)NativeMemory.AlignedAlloc((nuint)payloadBytes, 64);
                _capacity = payloadBytes;
            }
        }

        /// <summary>A fresh ticket, so that workers late for an earlier call stay out, then waits for those inside.</summary>
        public void Close()
        {
            Interlocked.Increment(ref Header->Ticket);
            if (Volatile.Read(ref Header->Inside) == 0)
            {
                return;
            }
            var waitStart = Stopwatch.GetTimestamp();
            var spinner = new SpinWait();
            while (Volatile.Read(ref Header->Inside) != 0)
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
            AddWait(Stopwatch.GetTimestamp() - waitStart);
        }

        /// <summary>The ticket workers may enter with for the call about to be published.</summary>
        public int Open() => Interlocked.Increment(ref Header->Ticket);

        public void Free()
        {
            NativeMemory.AlignedFree(Payload);
            NativeMemory.AlignedFree(Header);
            Payload = null;
        }
    }

    /// <summary>
    /// A detached call in progress: fill <see cref="Payload"/>, then <see cref="Run"/>; <see cref="Dispose"/> gives
    /// the team back. Holds the team's gate from <see cref="BeginDetached"/> to <see cref="Dispose"/>.
    /// </summary>
    public readonly ref struct DetachedCall
    {
        private readonly KernelTeam _team;
        private readonly DetachedSlot? _slot;

        internal DetachedCall(KernelTeam team, DetachedSlot? slot, byte* payload)
        {
            _team = team;
            _slot = slot;
            Payload = payload;
        }

        /// <summary>The call's memory: inputs, work list and outputs, as the kernel lays them out.</summary>
        public byte* Payload { get; }

        /// <summary>
        /// Runs <paramref name="work"/>(payload, part, parts) on the team: workers run parts 1..parts-1 if they come in
        /// time, and part 0, on the caller, must not return before every part's work is done (taking over what is late).
        /// </summary>
        public void Run(delegate*<void*, int, int, void> work, int parts) => _team.RunDetached(_slot, work, Payload, parts);

        public void Dispose()
        {
            if (_slot is null)
            {
                NativeMemory.AlignedFree(Payload);
            }
            _team._gate.Exit();
        }
    }
}
