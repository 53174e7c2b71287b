namespace Cluster.Gateway.Streaming;

/// <summary>
/// Finds stop sequences in text: a trie of every stop sequence, walked from each start position of the text it is
/// given. The cost of a scan is (text length) × (longest stop sequence) at worst and does not grow with the number
/// of stop sequences. Immutable; shared by every stream of a request.
/// </summary>
public sealed class StopSequenceMatcher
{
    private readonly Node _root = new();

    public StopSequenceMatcher(IEnumerable<string> stopSequences)
    {
        ArgumentNullException.ThrowIfNull(stopSequences);
        foreach (string stop in stopSequences)
        {
            ArgumentException.ThrowIfNullOrEmpty(stop, nameof(stopSequences));
            Add(stop);
            LongestLength = Math.Max(LongestLength, stop.Length);
            Count++;
        }
    }

    /// <summary>Distinct stop sequences, counting duplicates once.</summary>
    public int Count { get; private set; }

    public int LongestLength { get; }

    /// <summary>
    /// Scans <paramref name="text"/>: the earliest position where a whole stop sequence starts (the shortest stop
    /// sequence starting there), and otherwise the earliest position from which the rest of the text is the
    /// beginning of a stop sequence (text that must be held back until the next characters decide).
    /// </summary>
    public StopScan Scan(ReadOnlySpan<char> text)
    {
        int holdFrom = text.Length;
        for (int start = 0; start < text.Length; start++)
        {
            Node node = _root;
            int i = start;
            while (true)
            {
                if (node.Stop is not null)
                {
                    return new StopScan(start, node.Stop, start);
                }

                if (i == text.Length)
                {
                    // The text ran out inside the trie: what follows might complete a stop sequence.
                    holdFrom = Math.Min(holdFrom, start);
                    break;
                }

                if (!node.Children.TryGetValue(text[i], out Node? next))
                {
                    break;
                }

                node = next;
                i++;
            }
        }

        return new StopScan(-1, null, holdFrom);
    }

    private void Add(string stop)
    {
        Node node = _root;
        foreach (char c in stop)
        {
            if (!node.Children.TryGetValue(c, out Node? next))
            {
                next = new Node();
                node.Children.Add(c, next);
            }

            node = next;
        }

        if (node.Stop is null)
        {
            node.Stop = stop;
        }
        else
        {
            Count--; // a duplicate
        }
    }

    private sealed class Node
    {
        public Dictionary<char, Node> Children { get; } = [];

        public string? Stop { get; set; }
    }
}

/// <summary>
/// The result of <see cref="StopSequenceMatcher.Scan"/>. <see cref="StopStart"/> is -1 when no stop sequence is
/// whole in the text; <see cref="HoldFrom"/> is where text that could still begin a stop sequence starts (the text's
/// length when none could).
/// </summary>
public readonly record struct StopScan(int StopStart, string? Stop, int HoldFrom)
{
    public bool Found => Stop is not null;
}
