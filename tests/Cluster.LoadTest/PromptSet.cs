namespace Cluster.LoadTest;

/// <summary>
/// Prompts of an exact token count, as token ids drawn from a seeded generator: every run and every target (engine,
/// cluster) gets the same prompts, and lengths do not depend on a tokenizer.
/// </summary>
public static class PromptSet
{
    public static int[][] Create(int count, int tokens, int vocabularySize, ulong seed)
    {
        var random = new Random(unchecked((int)seed));
        // Ids from the lower half of the vocabulary: ordinary tokens, never the special ones at its end.
        var upper = Math.Max(2, vocabularySize / 2);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, tokens).Select(_ => random.Next(1, upper)).ToArray()).ToArray();
    }
}
