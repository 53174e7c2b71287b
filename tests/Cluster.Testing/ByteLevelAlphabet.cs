namespace Cluster.Testing;

/// <summary>
/// GPT-2's byte-to-unicode table, written here on its own (not shared with Cluster.Tokenizers) so that the files the
/// tests write and the code that reads them are two independent spellings of the same table.
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] Table = Build();

    public static char Encode(byte b) => Table[b];

    private static char[] Build()
    {
        // Python original: bytes_to_unicode() in GPT-2's encoder.py. Printable bytes map to themselves, the rest to 256+n.
        var printable = Enumerable.Range('!', '~' - '!' + 1)
            .Concat(Enumerable.Range('¡', '¬' - '¡' + 1))
            .Concat(Enumerable.Range('®', 'ÿ' - '®' + 1))
            .ToHashSet();
        var table = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
        {
            table[b] = printable.Contains(b) ? (char)b : (char)(256 + n++);
        }

        return table;
    }
}
