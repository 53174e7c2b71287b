using Cluster.Contracts.Responses;
using Microsoft.Extensions.Options;

namespace Cluster.Silo.Responses;

/// <summary>
/// The stored responses of this silo's <see cref="StoredResponseGrain"/>s, within <see cref="StoredResponseOptions.MaxBytes"/>:
/// the least recently used go first when a new one needs room, and one unused for <see cref="StoredResponseOptions.KeepFor"/>
/// is gone. Without this bound every client that stores responses (OpenAI's default) would grow the silo's memory for
/// an hour. Its own small LRU because MemoryCache refuses an entry that does not fit and compacts later, on another
/// thread, where a stored response should make room at once.
/// </summary>
public sealed class StoredResponseCache(IOptions<StoredResponseOptions> options, TimeProvider clock)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> _entries = [];
    private readonly LinkedList<Entry> _byUse = []; // most recently used first
    private long _bytes;

    private sealed record Entry(string Id, StoredResponse Response, long Bytes)
    {
        public DateTimeOffset LastUsed { get; set; }
    }

    public long Bytes
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    /// <summary>Keeps <paramref name="response"/>; false when it alone is larger than the budget (then nothing is kept).</summary>
    public bool Set(string id, StoredResponse response)
    {
        // UTF-16 strings: two bytes a character, and a little for the entry itself.
        var bytes = 2L * (response.Owner.Length + response.Model.Length + response.ConversationJson.Length + response.ResponseJson.Length + id.Length) + 256;
        lock (_lock)
        {
            RemoveLocked(id);
            if (bytes > options.Value.MaxBytes)
            {
                return false;
            }
            while (_bytes + bytes > options.Value.MaxBytes && _byUse.Last is { } oldest)
            {
                RemoveLocked(oldest.Value.Id);
            }
            var node = _byUse.AddFirst(new Entry(id, response, bytes) { LastUsed = clock.GetUtcNow() });
            _entries[id] = node;
            _bytes += bytes;
            return true;
        }
    }

    /// <summary>The response, or null when it was never kept, was dropped for room, or went unused too long.</summary>
    public StoredResponse? Get(string id)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(id, out var node))
            {
                return null;
            }
            var now = clock.GetUtcNow();
            if (now - node.Value.LastUsed > options.Value.KeepFor)
            {
                RemoveLocked(id);
                return null;
            }
            node.Value.LastUsed = now;
            _byUse.Remove(node);
            _byUse.AddFirst(node);
            return node.Value.Response;
        }
    }

    public bool Remove(string id)
    {
        lock (_lock)
        {
            return RemoveLocked(id);
        }
    }

    private bool RemoveLocked(string id)
    {
        if (!_entries.Remove(id, out var node))
        {
            return false;
        }
        _byUse.Remove(node);
        _bytes -= node.Value.Bytes;
        return true;
    }
}
