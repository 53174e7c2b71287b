using System.Globalization;

namespace Cluster.Engine.Cli;

/// <summary><c>--token-ids 1,2,3</c>: a prompt given as token ids, checked before any weight is loaded.</summary>
internal static class PromptTokenIds
{
    /// <summary>
    /// The ids of a comma-separated list (spaces allowed), each in [0, <paramref name="vocabularySize"/>): the model's
    /// embedding has no row for any other id.
    /// </summary>
    /// <exception cref="ArgumentException">Naming the option, the entry's position, the limit and the value.</exception>
    public static IReadOnlyList<int> Parse(string text, int vocabularySize)
    {
        var entries = text.Split(',', StringSplitOptions.TrimEntries);
        if (entries.All(e => e.Length == 0))
        {
            throw new ArgumentException("--token-ids is empty; give at least one id, e.g. --token-ids 1,2,3.");
        }
        var ids = new List<int>(entries.Length);
        for (var i = 0; i < entries.Length; i++)
        {
            if (!int.TryParse(entries[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var id))
            {
                throw new ArgumentException($"--token-ids entry {i} is '{entries[i]}', not an integer token id (expected e.g. --token-ids 1,2,3).");
            }
            if (id < 0 || id >= vocabularySize)
            {
                throw new ArgumentException($"--token-ids entry {i} is {id}, outside the model's vocabulary [0, {vocabularySize}).");
            }
            ids.Add(id);
        }
        return ids;
    }
}
