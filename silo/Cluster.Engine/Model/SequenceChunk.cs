using Cluster.Engine.Caching;

namespace Cluster.Engine.Model;

/// <summary>
/// One sequence's part of a step: <see cref="Length"/> new tokens at positions [StartPosition, StartPosition+Length),
/// attending to what <see cref="Cache"/> already holds before them. A prefill chunk has many tokens, a decode
/// step one; both mix freely in one batch. <see cref="TokenIds"/> are needed only by the shard that embeds.
/// </summary>
public sealed record SequenceChunk(KvCache Cache, int StartPosition, int Length, IReadOnlyList<int>? TokenIds = null)
{
    public static SequenceChunk ForTokens(KvCache cache, int startPosition, IReadOnlyList<int> tokenIds) =>
        new(cache, startPosition, tokenIds.Count, tokenIds);

    /// <summary>The next chunk of a sequence whose cache holds everything before it.</summary>
    public static SequenceChunk Continue(KvCache cache, IReadOnlyList<int> tokenIds) =>
        new(cache, cache.Length, tokenIds.Count, tokenIds);
}
