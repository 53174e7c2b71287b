using Cluster.Contracts.Stages;

namespace Cluster.Silo.Stages;

/// <summary>
/// Gives each <see cref="StageEntry.ContinuesSample"/> entry of a validated batch its input: the token this stage
/// sampled for the session in its previous step. Runs on the device thread, where a stage's steps run in the order
/// they arrived, so that step has finished when the next one gets here. A session that has no such sample at the
/// entry's position (the previous step never ran here, or another step moved the session since) is answered as
/// missing, as a session without its positions is.
/// </summary>
internal static class ContinuedEntries
{
    /// <returns>The batch with every continuation resolved to an ordinary one-token entry, or the sessions that could not be.</returns>
    public static (StageBatch Batch, IReadOnlyList<string> Missing) Resolve(StageBatch batch, SessionCaches sessions)
    {
        if (!batch.Entries.Any(e => e.ContinuesSample))
        {
            return (batch, []);
        }
        var missing = new List<string>();
        var entries = new StageEntry[batch.Entries.Count];
        for (var i = 0; i < entries.Length; i++)
        {
            var entry = batch.Entries[i];
            if (!entry.ContinuesSample)
            {
                entries[i] = entry;
            }
            else if (sessions.Find(entry.SessionId) is { LastSample: { } sample } session
                && sample.Position == entry.StartPosition && session.Length == entry.StartPosition)
            {
                entries[i] = entry with { TokenIds = [sample.TokenId], ContinuesSample = false };
            }
            else
            {
                missing.Add(entry.SessionId);
            }
        }
        return (batch with { Entries = entries }, missing);
    }
}
