namespace Cluster.Engine.Tests;

internal static class TestTokens
{
    /// <summary>Deterministic pseudo-random token ids in [0, vocab).</summary>
    public static int[] Sequence(int length, int seed, int vocab = 1024)
    {
        var ids = new int[length];
        var state = (uint)(seed * 2654435761u + 12345u);
        for (var i = 0; i < length; i++)
        {
            state = state * 1664525u + 1013904223u;
            ids[i] = (int)((state >> 8) % (uint)vocab);
        }
        return ids;
    }
}
