using System.IO.Hashing;

namespace Cluster.Gateway.Models;

/// <summary>
/// Cache-aware routing of a one-shot request over a model's replicas, scored as llm-d's and SGLang's routers do:
/// prefix affinity first, load as the bound. Replicas within <c>maxExtraLoad</c> requests of the least loaded one are
/// eligible; among them the one holding the longest cached prefix of the prompt wins (ties: the less loaded, then the
/// lower index); when none holds any, the prompt's first block picks one by rendezvous hashing, so requests sharing a
/// prefix meet on one replica, and every gateway sends them to the same one without asking anyone. A replica more
/// than <c>maxExtraLoad</c> beyond the least loaded gets nothing new: a hot prefix spills over to the others.
/// </summary>
internal static class ReplicaRouting
{
    /// <param name="loads">Waiting + running requests per replica.</param>
    /// <param name="cachedTokens">Per replica, how many leading prompt tokens it holds cached (as this gateway knows).</param>
    /// <param name="firstBlock">The prompt's first block's chain hash; null when the prompt has no whole block to share.</param>
    public static int Choose(IReadOnlyList<int> loads, IReadOnlyList<int> cachedTokens, ulong? firstBlock, int maxExtraLoad)
    {
        var least = loads.Min();
        var eligible = Enumerable.Range(0, loads.Count).Where(r => loads[r] <= least + maxExtraLoad).ToList();
        var longest = eligible.Max(r => cachedTokens[r]);
        if (longest > 0)
        {
            return eligible.Where(r => cachedTokens[r] == longest).MinBy(r => loads[r]);
        }
        if (firstBlock is { } block)
        {
            return eligible.MaxBy(r => Rendezvous(block, r));
        }
        return eligible.MinBy(r => loads[r]);
    }

    private static ulong Rendezvous(ulong block, int replica)
    {
        Span<ulong> key = [block, (ulong)replica];
        return XxHash3.HashToUInt64(System.Runtime.InteropServices.MemoryMarshal.AsBytes(key));
    }
}
