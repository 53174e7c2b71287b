using System.Collections.Concurrent;

namespace Cluster.Engine.Sampling.Json;

/// <summary>
/// Which tokens of a vocabulary can come next in a grammar's text, remembered per state (a string's inside, the
/// commonest, is one state however long the string), so most steps cost one copy of a bit set. Thread-safe; one per
/// vocabulary and grammar, shared by every request held to that grammar.
/// </summary>
public sealed class GrammarMasks<TState, TGrammar>(JsonTokenTable table, TGrammar grammar)
    where TState : struct, IEquatable<TState>
    where TGrammar : struct, IByteGrammar<TState>
{
    /// <summary>States whose allowed sets are kept; past it the memo starts over (a state is recomputed in one pass).</summary>
    private const int MaxMemoStates = 512;

    private readonly ConcurrentDictionary<TState, ulong[]> _memo = new();

    public JsonTokenTable Table => table;

    public TGrammar Grammar => grammar;

    /// <summary>
    /// One bit per token id (bit id % 64 of word id / 64): set when all of the token's bytes can follow
    /// <paramref name="state"/>. Shared and read-only: do not modify.
    /// </summary>
    public ulong[] Allowed(TState state)
    {
        if (_memo.TryGetValue(state, out var known))
        {
            return known;
        }
        var allowed = table.Walk<TState, TGrammar>(grammar, state);
        if (_memo.Count >= MaxMemoStates)
        {
            _memo.Clear();
        }
        _memo[state] = allowed;
        return allowed;
    }
}
