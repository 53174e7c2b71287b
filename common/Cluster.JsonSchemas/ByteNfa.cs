namespace Cluster.JsonSchemas;

/// <summary>A piece of the automaton under construction: it is entered at <see cref="Start"/> and left from <see cref="End"/>.</summary>
internal readonly record struct Fragment(int Start, int End);

/// <summary>
/// A nondeterministic automaton over bytes (Thompson's construction): states with byte-range edges and empty edges,
/// built fragment by fragment. <see cref="Prune"/> then drops every state from which the accepting state cannot be
/// reached, so that any prefix the automaton accepts can still be completed (a truncated recursion or an empty enum
/// leaves no dead branch for the sampler to walk into).
/// </summary>
internal sealed class ByteNfa(int maxStates)
{
    private readonly List<List<(byte Low, byte High, int To)>> _edges = [];
    private readonly List<List<int>> _empty = [];

    public int Count => _edges.Count;

    public IReadOnlyList<(byte Low, byte High, int To)> EdgesOf(int state) => _edges[state];

    public IReadOnlyList<int> EmptyEdgesOf(int state) => _empty[state];

    public int AddState()
    {
        if (_edges.Count == maxStates)
        {
            throw new JsonSchemaException("", $"the schema needs more than {maxStates} automaton states (too many properties, enum values, array items or nested levels)");
        }
        _edges.Add([]);
        _empty.Add([]);
        return _edges.Count - 1;
    }

    public void Edge(int from, byte low, byte high, int to) => _edges[from].Add((low, high, to));

    public void Empty(int from, int to) => _empty[from].Add(to);

    /// <summary>A fragment that accepts nothing: no way from its start to its end.</summary>
    public Fragment Never() => new(AddState(), AddState());

    /// <summary>Exactly <paramref name="bytes"/>.</summary>
    public Fragment Literal(ReadOnlySpan<byte> bytes)
    {
        var start = AddState();
        var at = start;
        foreach (var b in bytes)
        {
            var next = AddState();
            Edge(at, b, b, next);
            at = next;
        }
        return new(start, at);
    }

    /// <summary>One byte within any of <paramref name="ranges"/>.</summary>
    public Fragment OneOf(params ReadOnlySpan<(int Low, int High)> ranges)
    {
        var start = AddState();
        var end = AddState();
        foreach (var (low, high) in ranges)
        {
            Edge(start, checked((byte)low), checked((byte)high), end);
        }
        return new(start, end);
    }

    public Fragment Sequence(params ReadOnlySpan<Fragment> parts)
    {
        for (var i = 1; i < parts.Length; i++)
        {
            Empty(parts[i - 1].End, parts[i].Start);
        }
        return new(parts[0].Start, parts[^1].End);
    }

    public Fragment Either(IReadOnlyList<Fragment> choices)
    {
        if (choices.Count == 1)
        {
            return choices[0];
        }
        var start = AddState();
        var end = AddState();
        foreach (var choice in choices)
        {
            Empty(start, choice.Start);
            Empty(choice.End, end);
        }
        return new(start, end);
    }

    public Fragment Optional(Fragment part)
    {
        var start = AddState();
        var end = AddState();
        Empty(start, part.Start);
        Empty(part.End, end);
        Empty(start, end);
        return new(start, end);
    }

    /// <summary>Zero or more of <paramref name="part"/> (one copy, with an edge back to its start).</summary>
    public Fragment Repeat(Fragment part)
    {
        var start = AddState();
        var end = AddState();
        Empty(start, part.Start);
        Empty(part.End, part.Start);
        Empty(part.End, end);
        Empty(start, end);
        return new(start, end);
    }

    /// <summary>
    /// Between <paramref name="min"/> and <paramref name="max"/> (null: no limit) items separated by separators;
    /// <paramref name="item"/> and <paramref name="separator"/> build a fresh copy each call. Without a maximum the
    /// items past the minimum share one copy (a loop); with one, every possible item is its own copy.
    /// </summary>
    public Fragment Separated(Func<Fragment> item, Func<Fragment> separator, int min, int? max)
    {
        if (max == 0)
        {
            return Literal([]);
        }
        if (max is null && min <= 1)
        {
            // One copy of the item with an edge back through the separator: nested lists stay linear in size.
            var start = AddState();
            var end = AddState();
            var one = item();
            var between = separator();
            Empty(start, one.Start);
            Empty(one.End, end);
            Empty(one.End, between.Start);
            Empty(between.End, one.Start);
            if (min == 0)
            {
                Empty(start, end);
            }
            return new(start, end);
        }
        // first: the first item; then min - 1 required (separator item) pairs; then the optional ones.
        var parts = new List<Fragment> { item() };
        for (var i = 1; i < min; i++)
        {
            parts.Add(separator());
            parts.Add(item());
        }
        if (max is { } limit)
        {
            // Nested optionals: (sep item (sep item (...)?)?)? — each a copy, so the count is bounded.
            var optional = new List<Fragment>();
            for (var i = Math.Max(min, 1); i < limit; i++)
            {
                optional.Add(Sequence(separator(), item()));
            }
            if (optional.Count > 0)
            {
                var tail = Optional(optional[^1]);
                for (var i = optional.Count - 2; i >= 0; i--)
                {
                    tail = Optional(Sequence(optional[i], tail));
                }
                parts.Add(tail);
            }
        }
        else
        {
            parts.Add(Repeat(Sequence(separator(), item())));
        }
        var items = Sequence([.. parts]);
        return min == 0 ? Optional(items) : items;
    }

    /// <summary>
    /// Drops every edge into a state from which <paramref name="accept"/> cannot be reached; true when the start can
    /// still reach it (the language is not empty).
    /// </summary>
    public bool Prune(int start, int accept)
    {
        var incoming = new List<int>[Count];
        for (var s = 0; s < Count; s++)
        {
            incoming[s] = [];
        }
        for (var s = 0; s < Count; s++)
        {
            foreach (var (_, _, to) in _edges[s])
            {
                incoming[to].Add(s);
            }
            foreach (var to in _empty[s])
            {
                incoming[to].Add(s);
            }
        }
        var live = new bool[Count];
        var pending = new Stack<int>();
        live[accept] = true;
        pending.Push(accept);
        while (pending.Count > 0)
        {
            foreach (var from in incoming[pending.Pop()])
            {
                if (!live[from])
                {
                    live[from] = true;
                    pending.Push(from);
                }
            }
        }
        for (var s = 0; s < Count; s++)
        {
            _edges[s].RemoveAll(edge => !live[edge.To]);
            _empty[s].RemoveAll(to => !live[to]);
        }
        return live[start];
    }
}
