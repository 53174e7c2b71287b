using System.IO.Hashing;
using System.Runtime.InteropServices;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// What one replica's stages hold as prefixes, as this gateway last saw them: for each prefix of whole blocks of
/// <see cref="BlockTokens"/> tokens, a stage session that has it in its caches (a running sequence, a parked session,
/// or a finished request the stages retained), and the prefixes still being computed by a running sequence. A prefix
/// is keyed by its block chain hash (each block's key hashes the previous key and the block's tokens, as vLLM's
/// automatic prefix caching keys its blocks), so one lookup per block finds the longest cached prefix.
/// </summary>
/// <remarks>
/// It is a guess, never trusted for correctness: the stages check a copied prefix's tokens against what the source
/// really holds and answer "missing" when it is gone (evicted, expired, lost with a silo), and the sequence then replays
/// from position 0. Bounded: beyond <paramref name="maxBlocks"/> blocks the longest-unused sources are forgotten.
/// The scheduler loop writes it; request threads read it to route (<see cref="CachedTokens"/>), hence the lock.
/// </remarks>
internal sealed class PrefixIndex(int blockTokens, int maxBlocks)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ulong, Source> _cached = [];
    private readonly Dictionary<string, Source> _sources = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, RunningSequence> _pending = [];
    private long _stamp;

    public int BlockTokens { get; } = blockTokens;

    /// <summary>Blocks known cached, over every source.</summary>
    public int CachedBlocks
    {
        get
        {
            lock (_lock)
            {
                return _cached.Count;
            }
        }
    }

    /// <summary>
    /// The chain hashes of the first <paramref name="blocks"/> whole blocks of <paramref name="tokens"/>: entry k keys the
    /// prefix [0, (k + 1) · BlockTokens).
    /// </summary>
    public ulong[] ChainHashes(ReadOnlySpan<int> tokens, int blocks)
    {
        var hashes = new ulong[blocks];
        Span<int> buffer = stackalloc int[BlockTokens + 2]; // previous key (two ints), then the block's tokens
        var previous = 0UL;
        for (var b = 0; b < blocks; b++)
        {
            MemoryMarshal.Write(MemoryMarshal.AsBytes(buffer[..2]), previous);
            tokens.Slice(b * BlockTokens, BlockTokens).CopyTo(buffer[2..]);
            previous = hashes[b] = XxHash3.HashToUInt64(MemoryMarshal.AsBytes(buffer));
        }
        return hashes;
    }

    /// <summary>
    /// The longest cached prefix of <paramref name="tokens"/> that leaves at least one token to compute (the last
    /// prompt token's logits are what samples), and the longest prefix beyond it that another running sequence is
    /// computing now.
    /// </summary>
    public PrefixMatch Match(IReadOnlyList<int> tokens, RunningSequence? self = null)
    {
        var blocks = Math.Max(0, (tokens.Count - 1) / BlockTokens);
        var hashes = ChainHashes(AsSpan(tokens), blocks);
        lock (_lock)
        {
            var cached = 0;
            string? source = null;
            while (cached < blocks && _cached.TryGetValue(hashes[cached], out var hit))
            {
                source = hit.Id;
                cached++;
            }
            if (source is not null)
            {
                _sources[source].Stamp = ++_stamp;
            }
            var pending = cached;
            RunningSequence? owner = null;
            while (pending < blocks && _pending.TryGetValue(hashes[pending], out var computing) && computing != self && !computing.Finished
                   && (owner is null || owner == computing))
            {
                owner = computing;
                pending++;
            }
            return new PrefixMatch(source, cached * BlockTokens, owner, pending * BlockTokens);
        }
    }

    /// <summary>How many leading tokens of <paramref name="tokens"/> the index holds as cached: what routing weighs.</summary>
    public int CachedTokens(IReadOnlyList<int> tokens) => Match(tokens).CachedTokens;

    /// <summary>Marks the whole blocks of <paramref name="sequence"/>'s tokens from <paramref name="fromTokens"/> on as being computed by it.</summary>
    public void AddPending(RunningSequence sequence, int fromTokens)
    {
        var blocks = sequence.Tokens.Count / BlockTokens;
        var hashes = ChainHashes(CollectionsMarshal.AsSpan(sequence.Tokens), blocks);
        lock (_lock)
        {
            for (var b = fromTokens / BlockTokens; b < blocks; b++)
            {
                _pending.TryAdd(hashes[b], sequence);
            }
        }
    }

    /// <summary>
    /// Records the whole blocks of <paramref name="sequence"/>'s tokens that the stages now hold (up to its
    /// <see cref="RunningSequence.ComputedLength"/>) as cached in its stage session, and no longer pending.
    /// </summary>
    public void Record(RunningSequence sequence)
    {
        var blocks = sequence.ComputedLength / BlockTokens;
        if (blocks <= sequence.RecordedPrefixBlocks)
        {
            return;
        }
        var hashes = ChainHashes(CollectionsMarshal.AsSpan(sequence.Tokens), blocks);
        lock (_lock)
        {
            if (!_sources.TryGetValue(sequence.StageSessionId, out var source))
            {
                source = _sources[sequence.StageSessionId] = new Source(sequence.StageSessionId);
            }
            source.Stamp = ++_stamp;
            for (var b = sequence.RecordedPrefixBlocks; b < blocks; b++)
            {
                if (_cached.TryGetValue(hashes[b], out var previous) && previous != source)
                {
                    previous.Blocks.Remove(hashes[b]);
                }
                _cached[hashes[b]] = source; // the newest holder: the likeliest still to be there
                source.Blocks.Add(hashes[b]);
                if (_pending.TryGetValue(hashes[b], out var owner) && owner == sequence)
                {
                    _pending.Remove(hashes[b]);
                }
            }
            sequence.RecordedPrefixBlocks = blocks;
            while (_cached.Count > maxBlocks && _sources.Count > 1)
            {
                ForgetLocked(_sources.Values.Where(s => s != source).MinBy(s => s.Stamp)!.Id);
            }
        }
    }

    /// <summary>The stages no longer hold <paramref name="sessionId"/> (freed, or found missing): forget its blocks.</summary>
    public void Forget(string sessionId)
    {
        lock (_lock)
        {
            ForgetLocked(sessionId);
        }
    }

    /// <summary>The sequence retired or stopped computing its prompt: its blocks are no longer pending.</summary>
    public void ForgetPending(RunningSequence sequence)
    {
        lock (_lock)
        {
            foreach (var hash in _pending.Where(p => p.Value == sequence).Select(p => p.Key).ToList())
            {
                _pending.Remove(hash);
            }
        }
    }

    private void ForgetLocked(string sessionId)
    {
        if (!_sources.Remove(sessionId, out var source))
        {
            return;
        }
        foreach (var hash in source.Blocks)
        {
            _cached.Remove(hash);
        }
    }

    private static ReadOnlySpan<int> AsSpan(IReadOnlyList<int> tokens) => tokens switch
    {
        List<int> list => CollectionsMarshal.AsSpan(list),
        int[] array => array,
        _ => tokens.ToArray(),
    };

    private sealed class Source(string id)
    {
        public string Id { get; } = id;
        public HashSet<ulong> Blocks { get; } = [];
        public long Stamp { get; set; }
    }
}

/// <summary>
/// A lookup's answer: <see cref="CachedTokens"/> leading tokens held by stage session <see cref="Source"/> (0 and null
/// on a miss), and up to <see cref="PendingTokens"/> being computed now by <see cref="PendingOwner"/>.
/// </summary>
internal readonly record struct PrefixMatch(string? Source, int CachedTokens, RunningSequence? PendingOwner, int PendingTokens);
