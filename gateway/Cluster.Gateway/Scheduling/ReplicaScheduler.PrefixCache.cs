using Cluster.Contracts.Stages;
using Cluster.Gateway.Telemetry;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// The prefix cache, as the scheduler drives it: a sequence the stages hold nothing of looks up its longest cached
/// prefix when it arrives (before the schedule step can plan its first chunk) and starts computing after it (its first chunk names the stage session to copy the prefix
/// from); a sequence whose prefix another running sequence is computing right now waits for it, so a prefix shared by
/// concurrent requests is computed once; computed blocks are recorded as they complete; a finished request's cache is
/// retained on the stages for later ones. The stages decide nothing: they copy what the gateway names, after checking
/// its tokens, or answer "missing" and the sequence replays from 0. Off when <see cref="SchedulerOptions.PrefixCache"/> is.
/// </summary>
internal sealed partial class ReplicaScheduler
{
    private readonly PrefixIndex? _prefixes;

    /// <summary>What this replica's stages hold as prefixes, as far as this gateway knows; null when the prefix cache is off.</summary>
    public PrefixIndex? Prefixes => _prefixes;

    /// <summary>At arrival: the longest cached prefix to copy, or an earlier sequence computing a longer one to wait for.</summary>
    private void LookUpPrefix(RunningSequence sequence)
    {
        // A scored prompt computes every position (a hit's positions would have no scores).
        if (_prefixes is null || sequence.ComputedLength > 0 || sequence.PrefixHit is not null || sequence.Request.PromptLogprobs is not null)
        {
            return;
        }
        var match = _prefixes.Match(sequence.Tokens, sequence);
        if (match.PendingOwner is { } owner && match.PendingTokens > match.CachedTokens && owner.Arrival < sequence.Arrival)
        {
            sequence.PrefixWait = (owner, match.PendingTokens); // only on sequences that arrived earlier: waits never form a cycle
            return;
        }
        var model = GatewayTelemetry.ModelTag(sequence.Request.Model);
        GatewayTelemetry.PrefixCacheQueries.Add(sequence.Tokens.Count, model);
        if (match.Source is { } source)
        {
            sequence.PrefixHit = (source, match.CachedTokens);
            sequence.ComputedLength = sequence.CachedAtStart = match.CachedTokens;
        }
        _prefixes.AddPending(sequence, match.CachedTokens);
    }

    /// <summary>Before each schedule: sequences whose shared prefix is now computed (or whose owner stopped) look up again.</summary>
    private void EndPrefixWaits()
    {
        foreach (var sequence in _running.Concat(_waiting).Where(s => s.PrefixWait is { } wait && (wait.Owner.Finished || wait.Owner.ComputedLength >= wait.Tokens)).ToList())
        {
            sequence.PrefixWait = null;
            LookUpPrefix(sequence);
        }
    }

    /// <summary>After a step computed a sequence's chunk: its hit (if any) happened; its newly whole blocks are cached.</summary>
    private void RecordComputedPrefix(RunningSequence sequence)
    {
        if (_prefixes is null)
        {
            return;
        }
        if (sequence.PrefixHit is { } hit)
        {
            GatewayTelemetry.PrefixCacheHits.Add(hit.Tokens, GatewayTelemetry.ModelTag(sequence.Request.Model));
            sequence.PrefixHit = null;
        }
        _prefixes.Record(sequence);
    }

    /// <summary>A stage answered the sequence missing: neither its prefix source nor its own cache can be trusted there.</summary>
    private void ForgetMissingPrefix(RunningSequence sequence)
    {
        if (_prefixes is null)
        {
            return;
        }
        if (sequence.PrefixHit is { } hit)
        {
            _prefixes.Forget(hit.Source);
            sequence.PrefixHit = null;
        }
        _prefixes.Forget(sequence.StageSessionId);
        sequence.RecordedPrefixBlocks = 0;
    }

    /// <summary>
    /// What the stages do with a retiring sequence's cache: a session's is parked for its next turn; a one-shot
    /// request that ran to its end is retained as a prefix for others (when the prefix cache is on); anything else is freed.
    /// </summary>
    private CacheRelease ReleaseOf(RunningSequence sequence, bool ranToItsEnd)
    {
        _prefixes?.ForgetPending(sequence);
        var release = sequence.Request.SessionId is not null ? CacheRelease.Park
            : ranToItsEnd && _prefixes is not null ? CacheRelease.Retain
            : CacheRelease.Free;
        if (release == CacheRelease.Free)
        {
            _prefixes?.Forget(sequence.StageSessionId);
        }
        return release;
    }

    /// <summary>The prefix a chunk's entry copies: set on the first chunk after a hit.</summary>
    private static PrefixSource? PrefixOf(PlannedChunk chunk) =>
        chunk.CopiedPrefixTokens is > 0 and var tokens
            ? new PrefixSource(chunk.Sequence.PrefixHit!.Value.Source, chunk.Sequence.Tokens.GetRange(0, tokens).ToArray())
            : null;
}
