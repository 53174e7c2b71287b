namespace Cluster.Testing;

/// <summary>The pieces of the small SentencePiece model: Llama 2's layout (control, byte fallback, then words).</summary>
internal static class SentencePieceVocabulary
{
    public const char WordBoundary = '\u2581'; // "▁", SentencePiece's spelling of a space

    // Common English words; every prefix of "▁word" becomes a piece so that BPE merges can build each whole word.
    private static readonly string[] Words =
    [
        "the", "a", "an", "and", "of", "to", "in", "is", "it", "that", "for", "on", "with", "as", "was", "are", "be",
        "this", "by", "at", "from", "or", "have", "not", "but", "what", "all", "were", "when", "we", "there", "can",
        "hello", "world", "weather", "today", "how", "you", "your", "return", "def", "if", "else", "int", "var",
        "new", "class", "public", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "token", "model",
    ];

    private static readonly string[] Fragments = ["th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ing", "ed", "es", "ly"];

    public static IReadOnlyList<(string Piece, float Score, PieceType Type)> Pieces()
    {
        var pieces = new List<(string, float, PieceType)>
        {
            ("<unk>", 0, PieceType.Unknown),
            ("<s>", 0, PieceType.Control),
            ("</s>", 0, PieceType.Control),
        };
        for (int b = 0; b < 256; b++)
        {
            pieces.Add(($"<0x{b:X2}>", 0, PieceType.Byte));
        }

        var normal = new List<string> { WordBoundary.ToString(), new(WordBoundary, 2), new(WordBoundary, 3), new(WordBoundary, 4) };
        normal.AddRange(Fragments);
        foreach (string word in Words)
        {
            string spelled = WordBoundary + word;
            for (int length = 2; length <= spelled.Length; length++)
            {
                normal.Add(spelled[..length]);
            }
        }

        // Single characters last: BPE starts from them, merges use the scores of the longer pieces above.
        normal.AddRange("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()[]{}=+*/_<>#".Select(c => c.ToString()));

        float score = 0;
        foreach (string piece in normal.Distinct(StringComparer.Ordinal))
        {
            pieces.Add((piece, score, PieceType.Normal));
            score -= 1;
        }

        return pieces;
    }
}

/// <summary>sentencepiece_model.proto's SentencePiece.Type.</summary>
internal enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}
