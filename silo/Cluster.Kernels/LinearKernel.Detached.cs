using System.Diagnostics;

namespace Cluster.Kernels;

/// <summary>
/// One-row calls the caller does not wait for (<see cref="KernelTeam.BeginDetached"/>): a batch-1 decode step is ~100
/// short kernel calls, and when a worker loses its core in the middle of its chunk the caller used to wait out the
/// whole time the core was elsewhere. Here the caller, once every chunk is claimed, gives the others
/// <see cref="TakeOverTicks"/> to finish theirs and then computes what is still unfinished itself: the same rows
/// through the same code, so the same bits, whichever thread's copy lands. The call's x, work list and output rows
/// live in the team's slot, never in the caller's memory, so a worker that comes back late only writes rows the slot
/// already holds; the caller copies the rows to y.
/// </summary>
public static unsafe partial class LinearKernel
{
    /// <summary>Tests turn this off to compare against the waited-for call.</summary>
    internal static bool UseDetachedCalls { get; set; } = true;

    /// <summary>Runs after a thread claims a chunk of a detached call: lets a test hold a worker in the middle of its work.</summary>
    internal static Action<int>? ChunkClaimedForTests;

    /// <summary>
    /// How long the caller waits for chunks in other threads' hands before computing them itself: a 64 KiB chunk of
    /// one row streams in about 3 µs, so a worker still at work finishes within it, and one that lost its core (tens of
    /// microseconds or more) does not.
    /// </summary>
    private static readonly long TakeOverTicks = Stopwatch.Frequency / 100_000; // 10 µs

    private static void RunDetached<TW>(Job job, KernelTeam team, int parts) where TW : IWeightFormat
    {
        // The slot: the job, its work list, the chunks' done flags, x (or its bf16 pairs), the output rows.
        var jobBytes = Aligned(sizeof(Job));
        var chunksBytes = Aligned(WorkChunks.ScratchBytes(parts));
        var doneBytes = Aligned((long)job.ChunkCount * sizeof(int));
        var inputBytes = Aligned((long)job.K * sizeof(float));
        using var call = team.BeginDetached(jobBytes + chunksBytes + doneBytes + inputBytes + (long)job.N * sizeof(float));
        var slotJob = (Job*)call.Payload;
        *slotJob = job;
        slotJob->Chunks = WorkChunks.Create(call.Payload + jobBytes, job.ChunkCount, parts);
        slotJob->Done = (int*)(call.Payload + jobBytes + chunksBytes);
        new Span<int>(slotJob->Done, job.ChunkCount).Clear();
        var input = (float*)(call.Payload + jobBytes + chunksBytes + doneBytes);
        new ReadOnlySpan<float>(job.Pairs != null ? job.Pairs : job.X, job.K).CopyTo(new Span<float>(input, job.K));
        if (job.Pairs != null)
        {
            slotJob->Pairs = input;
            slotJob->X = null; // the bf16 one-row stream reads the pairs only
        }
        else
        {
            slotJob->X = input;
        }
        slotJob->Y = (float*)(call.Payload + jobBytes + chunksBytes + doneBytes + inputBytes);
        call.Run(&RunDetachedPart<TW>, parts);
        new ReadOnlySpan<float>(slotJob->Y, job.N).CopyTo(new Span<float>(job.Y, job.N));
    }

    private static long Aligned(long bytes) => (bytes + 63) / 64 * 64;

    /// <summary>Claims chunks until none is left; part 0, the caller, then sees every chunk done (see the type's remarks).</summary>
    private static void RunDetachedPart<TW>(void* state, int part, int parts) where TW : IWeightFormat
    {
        ref var job = ref *(Job*)state;
        var chunkRows = job.ChunkTiles * TileHeight<TW>(ref job);
        var cursor = 0;
        while (job.Chunks.TryClaim(part, ref cursor, out var chunk))
        {
            ChunkClaimedForTests?.Invoke(part);
            RunChunk<TW>(ref job, chunk, chunkRows);
            Volatile.Write(ref job.Done[chunk], 1);
        }
        if (part == 0)
        {
            FinishOthersChunks<TW>(ref job, chunkRows);
        }
    }

    /// <summary>Waits up to <see cref="TakeOverTicks"/> for the chunks other threads hold, then computes the rest here.</summary>
    private static void FinishOthersChunks<TW>(ref Job job, int chunkRows) where TW : IWeightFormat
    {
        var start = 0L;
        for (var chunk = 0; chunk < job.ChunkCount; chunk++)
        {
            while (Volatile.Read(ref job.Done[chunk]) == 0)
            {
                if (start == 0)
                {
                    start = Stopwatch.GetTimestamp();
                }
                else if (Stopwatch.GetTimestamp() - start > TakeOverTicks)
                {
                    RunChunk<TW>(ref job, chunk, chunkRows);
                    Volatile.Write(ref job.Done[chunk], 1);
                    break;
                }
                Thread.SpinWait(1);
            }
        }
        if (start != 0)
        {
            KernelTeam.AddWait(Stopwatch.GetTimestamp() - start); // waiting, or computing what another thread held
        }
    }

    private static void RunChunk<TW>(ref Job job, int chunk, int chunkRows) where TW : IWeightFormat
    {
        var first = chunk * chunkRows;
        RunRows<TW>(ref job, first, chunk == job.ChunkCount - 1 ? job.N : first + chunkRows);
    }
}
