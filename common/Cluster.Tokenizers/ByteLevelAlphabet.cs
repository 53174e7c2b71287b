namespace Cluster.Tokenizers;

/// <summary>
/// GPT-2's byte-to-unicode table. Byte-level BPE vocabularies spell every byte as a printable character
/// (space is 'Ġ', newline 'Ċ') so that tokens are plain strings in vocab.json; decoding maps them back.
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    public static char Encode(byte b) => ByteToChar[b];

    /// <summary>Appends the bytes a vocabulary piece stands for; false when the piece uses a character outside the alphabet.</summary>
    public static bool TryAppendBytes(string piece, List<byte> destination)
    {
        int start = destination.Count;
        foreach (char c in piece)
        {
            if (!CharToByte.TryGetValue(c, out byte b))
            {
                destination.RemoveRange(start, destination.Count - start);
                return false;
            }

            destination.Add(b);
        }

        return true;
    }

    private static char[] BuildByteToChar()
    {
        // Printable Latin-1 bytes keep their own code point; the other 68 bytes are shifted to U+0100 and up, in byte order.
        var table = new char[256];
        int shifted = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= '¡' && b <= '¬') || (b >= '®' && b <= 'ÿ');
            table[b] = printable ? (char)b : (char)(256 + shifted++);
        }

        return table;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var map = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++)
        {
            map[ByteToChar[b]] = (byte)b;
        }

        return map;
    }
}
