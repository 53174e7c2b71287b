using System.Globalization;
using System.Text;

namespace Cluster.Client;

/// <summary>Formatting shared by the commands.</summary>
internal static class Show
{
    /// <summary>A token piece, quoted, with control characters escaped ("\n", "\u0000").</summary>
    public static string Piece(string piece)
    {
        var builder = new StringBuilder("\"");
        foreach (char c in piece)
        {
            builder.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '"' => "\\\"",
                _ when char.IsControl(c) => $"\\u{(int)c:X4}",
                _ => c.ToString(),
            });
        }

        return builder.Append('"').ToString();
    }

    public static string Milliseconds(double seconds) => (seconds * 1000).ToString("F1", CultureInfo.InvariantCulture) + " ms";

    public static string Bytes(ulong bytes) => bytes switch
    {
        >= 1UL << 30 => (bytes / (double)(1UL << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB",
        >= 1UL << 20 => (bytes / (double)(1UL << 20)).ToString("F1", CultureInfo.InvariantCulture) + " MiB",
        >= 1UL << 10 => (bytes / (double)(1UL << 10)).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };
}
