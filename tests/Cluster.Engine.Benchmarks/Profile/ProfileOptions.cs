using System.Globalization;

namespace Cluster.Engine.Benchmarks.Profile;

/// <summary>The profiles' command-line options: <c>--name value</c> pairs anywhere in the arguments, with a fallback.</summary>
internal static class ProfileOptions
{
    public static string String(string[] args, string name, string fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : fallback;
    }

    public static int Int(string[] args, string name, int fallback) =>
        int.Parse(String(args, name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
}
