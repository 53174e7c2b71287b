using System.Text.Json;

namespace Cluster.JsonSchemas;

/// <summary>
/// The beginnings of the texts a JSON Schema (<see cref="FromJsonSchema"/>) or a regular expression
/// (<see cref="FromPattern"/>) allows, as a deterministic automaton over UTF-8 bytes whose states are small integers,
/// built lazily from the compiled nondeterministic one (each state a set of its states, made the first time a byte
/// leads there). A state is where a text stands after some bytes: <see cref="TryFeed"/> says whether a byte can
/// continue it, <see cref="CanEnd"/> whether the text is complete. Every state the automaton reaches can still be
/// completed. Thread-safe: one automaton serves every request with the same schema or pattern.
/// </summary>
public sealed class TextAutomaton
{
    /// <summary>No text allowed by the schema continues this way.</summary>
    private const int Dead = -1;
    private const int Unknown = -2;

    private readonly ByteNfa _nfa;
    private readonly int _accept;
    private readonly Lock _gate = new();
    private readonly Dictionary<Members, int> _index = [];
    private State[] _states = new State[64];
    private int _count;

    private TextAutomaton(ByteNfa nfa, int start, int accept)
    {
        _nfa = nfa;
        _accept = accept;
        Intern(Closure([start]));
    }

    /// <summary>The state before the first byte.</summary>
    public int Start => 0;

    /// <summary>States of the compiled nondeterministic automaton (what the schema or pattern costs to hold).</summary>
    public int CompiledStates => _nfa.Count;

    /// <summary>States reached so far.</summary>
    public int ReachedStates => Volatile.Read(ref _count);

    /// <summary>The JSON texts of the values <paramref name="schema"/> (a JSON Schema's text) allows.</summary>
    /// <exception cref="JsonSchemaException">The schema is not JSON, uses what is not supported, or allows no value within the limits.</exception>
    public static TextAutomaton FromJsonSchema(string schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        if (schema.Length > JsonSchemaLimits.MaxSchemaLength)
        {
            throw new JsonSchemaException("", $"the schema is {schema.Length} characters long; the limit is {JsonSchemaLimits.MaxSchemaLength}");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(schema, new JsonDocumentOptions { MaxDepth = 2 * JsonSchemaLimits.MaxSchemaDepth });
        }
        catch (JsonException e)
        {
            throw new JsonSchemaException("", $"the schema is not valid JSON ({e.Message})");
        }
        using (document)
        {
            var nfa = new ByteNfa(JsonSchemaLimits.MaxAutomatonStates);
            return Pruned(nfa, new SchemaCompiler(nfa, document.RootElement).Compile(),
                $"no JSON value satisfies the schema within its limits (a recursive schema is unrolled {JsonSchemaLimits.MaxRecursion} levels)");
        }
    }

    /// <summary>
    /// The texts <paramref name="pattern"/> (an ECMAScript regular expression, the subset <c>pattern</c> supports) matches
    /// whole, as vLLM's guided_regex does: the text is one match, whether or not the pattern writes ^ and $.
    /// </summary>
    /// <exception cref="JsonSchemaException">The pattern uses what is not supported (its <see cref="JsonSchemaException.Pointer"/> is empty), or matches nothing.</exception>
    public static TextAutomaton FromPattern(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern.Length > JsonSchemaLimits.MaxSchemaLength)
        {
            throw new JsonSchemaException("", $"the pattern is {pattern.Length} characters long; the limit is {JsonSchemaLimits.MaxSchemaLength}");
        }
        var nfa = new ByteNfa(JsonSchemaLimits.MaxAutomatonStates);
        return Pruned(nfa, PatternCompiler.CompileWhole(nfa, pattern), $"the pattern \"{pattern}\" matches no text");
    }

    private static TextAutomaton Pruned(ByteNfa nfa, Fragment text, string empty) =>
        nfa.Prune(text.Start, text.End) ? new TextAutomaton(nfa, text.Start, text.End) : throw new JsonSchemaException("", empty);

    /// <summary>Moves <paramref name="state"/> past <paramref name="b"/>; false (and the state unchanged) when no allowed text continues so.</summary>
    /// <remarks>Past <see cref="JsonSchemaLimits.MaxReachedStates"/> states, a byte that would need a new one is refused.</remarks>
    public bool TryFeed(ref int state, byte b)
    {
        var next = Volatile.Read(ref _states)[state].Next[b];
        if (next == Unknown)
        {
            next = Step(state, b);
        }
        if (next == Dead)
        {
            return false;
        }
        state = next;
        return true;
    }

    /// <summary>Moves <paramref name="state"/> past every byte; false (and the state unchanged) when one cannot follow.</summary>
    public bool TryFeed(ref int state, ReadOnlySpan<byte> bytes)
    {
        var at = state;
        foreach (var b in bytes)
        {
            if (!TryFeed(ref at, b))
            {
                return false;
            }
        }
        state = at;
        return true;
    }

    /// <summary>The text read to <paramref name="state"/> is a whole value the schema allows.</summary>
    public bool CanEnd(int state) => Volatile.Read(ref _states)[state].Accepting;

    private int Step(int from, byte b)
    {
        lock (_gate)
        {
            var row = _states[from].Next;
            if (row[b] != Unknown)
            {
                return row[b];
            }
            var targets = new List<int>();
            foreach (var member in _states[from].Members.Ids)
            {
                foreach (var (low, high, to) in _nfa.EdgesOf(member))
                {
                    if (b >= low && b <= high)
                    {
                        targets.Add(to);
                    }
                }
            }
            var next = targets.Count == 0 ? Dead : Intern(Closure(targets));
            Volatile.Write(ref row[b], next);
            return next;
        }
    }

    private Members Closure(List<int> seeds)
    {
        var seen = new HashSet<int>(seeds);
        var pending = new Stack<int>(seeds);
        while (pending.Count > 0)
        {
            foreach (var to in _nfa.EmptyEdgesOf(pending.Pop()))
            {
                if (seen.Add(to))
                {
                    pending.Push(to);
                }
            }
        }
        // Only states with byte edges, and the accepting one, tell states apart: the rest are passed through.
        var ids = seen.Where(s => s == _accept || _nfa.EdgesOf(s).Count > 0).ToArray();
        System.Array.Sort(ids);
        return new Members(ids);
    }

    private int Intern(Members members)
    {
        if (_index.TryGetValue(members, out var known))
        {
            return known;
        }
        if (_count == JsonSchemaLimits.MaxReachedStates)
        {
            // A pattern whose deterministic form explodes ((a|b)*a(a|b){20} has 2^21 states): past the bound the
            // automaton stops growing and what would need a new state is refused, so a request held to it ends (its
            // constraint finds nothing to continue with and allows only EOS) instead of failing the step it shares.
            return Dead;
        }
        var state = new State(members, System.Array.BinarySearch(members.Ids, _accept) >= 0);
        var states = _states;
        if (_count == states.Length)
        {
            states = new State[states.Length * 2];
            System.Array.Copy(_states, states, _count);
        }
        states[_count] = state;
        Volatile.Write(ref _states, states);
        _index[members] = _count;
        Volatile.Write(ref _count, _count + 1);
        return _count - 1;
    }

    private sealed class State(Members members, bool accepting)
    {
        public Members Members { get; } = members;

        public bool Accepting { get; } = accepting;

        public int[] Next { get; } = Enumerable.Repeat(Unknown, 256).ToArray();
    }

    /// <summary>A set of the compiled automaton's states, sorted: equal by content.</summary>
    private readonly struct Members(int[] ids) : IEquatable<Members>
    {
        public int[] Ids { get; } = ids;

        public bool Equals(Members other) => Ids.AsSpan().SequenceEqual(other.Ids);

        public override bool Equals(object? obj) => obj is Members other && Equals(other);

        public override int GetHashCode()
        {
            var hash = new HashCode();
            hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(Ids.AsSpan()));
            return hash.ToHashCode();
        }
    }
}
