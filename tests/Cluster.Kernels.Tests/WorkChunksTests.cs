namespace Cluster.Kernels.Tests;

/// <summary>
/// How a call's chunks are handed out: each chunk exactly once, each part's own share first and in order (one
/// contiguous stream per thread, as a static split gives), and the chunks of a part that never asks taken by the others.
/// </summary>
public sealed unsafe class WorkChunksTests
{
    [Theory]
    [InlineData(1000, 4)]
    [InlineData(7, 3)]
    [InlineData(1, 2)]
    public void Parts_claiming_at_once_on_a_team_take_every_chunk_exactly_once(int count, int parts)
    {
        using var team = new KernelTeam(parts);
        var scratch = stackalloc byte[WorkChunks.ScratchBytes(parts)];
        for (var repeat = 0; repeat < 20; repeat++)
        {
            var state = new State { Chunks = WorkChunks.Create(scratch, count, parts), Claims = new int[count] };
            var handle = System.Runtime.InteropServices.GCHandle.Alloc(state);
            try
            {
                team.Run(&ClaimAll, (void*)System.Runtime.InteropServices.GCHandle.ToIntPtr(handle), parts);
            }
            finally
            {
                handle.Free();
            }
            var wrong = Enumerable.Range(0, count).Where(c => state.Claims[c] != 1).Select(c => $"chunk {c}: {state.Claims[c]}×").ToArray();
            Assert.True(wrong.Length == 0, $"{count} chunks over {parts} parts, call {repeat}: {string.Join(", ", wrong.Take(10))}");
        }
    }

    [Fact]
    public void A_part_takes_its_own_share_in_order_before_any_other()
    {
        var scratch = stackalloc byte[WorkChunks.ScratchBytes(4)];
        var chunks = WorkChunks.Create(scratch, 10, 4); // shares: [0, 2), [2, 5), [5, 7), [7, 10)
        var cursor = 0;
        var claimed = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            Assert.True(chunks.TryClaim(1, ref cursor, out var chunk), $"Part 1's claim {i} found nothing; it had {string.Join(", ", claimed)}.");
            claimed.Add(chunk);
        }
        Assert.Equal([2, 3, 4], claimed);
    }

    [Fact]
    public void A_part_that_never_asks_leaves_its_share_to_the_others()
    {
        // Part 1 claims once, then part 0 alone claims, as when the team's other thread is late or has lost its core:
        // part 0 gets its own share first, then the rest of every other share; then nothing is left for part 1.
        var scratch = stackalloc byte[WorkChunks.ScratchBytes(3)];
        var chunks = WorkChunks.Create(scratch, 9, 3); // shares: [0, 3), [3, 6), [6, 9)
        var partOne = 0;
        Assert.True(chunks.TryClaim(1, ref partOne, out var first) && first == 3, $"Part 1's first claim gave {first}, expected 3.");
        var claimed = new List<int>();
        var mine = 0;
        while (chunks.TryClaim(0, ref mine, out var chunk))
        {
            claimed.Add(chunk);
        }
        Assert.Equal([0, 1, 2, 4, 5, 6, 7, 8], claimed);
        Assert.False(chunks.TryClaim(1, ref partOne, out var late), $"Part 1 claimed chunk {late} after every chunk was taken.");
    }

    private sealed class State
    {
        public WorkChunks Chunks;
        public required int[] Claims;
    }

    private static void ClaimAll(void* handle, int part, int parts)
    {
        var state = (State)System.Runtime.InteropServices.GCHandle.FromIntPtr((nint)handle).Target!;
        var cursor = 0;
        while (state.Chunks.TryClaim(part, ref cursor, out var chunk))
        {
            Interlocked.Increment(ref state.Claims[chunk]);
        }
    }
}
