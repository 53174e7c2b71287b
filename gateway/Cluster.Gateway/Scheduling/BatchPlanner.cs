namespace Cluster.Gateway.Scheduling;

/// <summary>
/// One sequence's part of a micro-batch: tokens [Start, Start + Length) of its <see cref="RunningSequence.Tokens"/>.
/// A continuation (<paramref name="Continues"/>) is the one position after them, whose token the step still in flight
/// samples: the stage takes it from its own last sample (<see cref="Contracts.Stages.StageEntry.ContinuesSample"/>).
/// </summary>
internal readonly record struct PlannedChunk(RunningSequence Sequence, int Start, int Length, bool Continues = false)
{
    /// <summary>The chunk reaches the end of the known tokens, so the last stage samples the next one.</summary>
    public bool Samples => Continues || Start + Length == Sequence.Tokens.Count;

    /// <summary>
    /// What came back for this chunk is to be applied: the sequence has not finished (a token, a cancel or a failure
    /// may end it while a second step is in flight), and for a continuation, what it continues from came back and was
    /// applied: the sequence gained exactly the token at <see cref="Start"/>. Otherwise (that step failed or was
    /// refused, or came back later than this one) the outcome is dropped: the stage's work on it is never used or is
    /// computed again.
    /// </summary>
    public bool Applies => !Sequence.Finished && (!Continues || Sequence.Tokens.Count == Start + 1);

    /// <summary>Positions this chunk copies from a cached prefix: the hit's length on its first chunk after a hit, else 0.</summary>
    public int CopiedPrefixTokens => Sequence.PrefixHit is { } hit && Start == hit.Tokens ? hit.Tokens : 0;
}

/// <summary>
/// Forms one micro-batch from the sequences that are ready (running, not in flight) or continue a step in flight:
/// decodes first, one token each, so running sequences keep streaming; then prompt chunks fill what is left of the
/// token budget, so a long prompt is prefilled over several steps instead of stalling everyone else (chunked prefill,
/// as in vLLM and Sarathi).
/// </summary>
internal static class BatchPlanner
{
    public static List<PlannedChunk> Plan(IEnumerable<RunningSequence> continuing, IEnumerable<RunningSequence> ready, int maxSequences, int tokenBudget)
    {
        var chunks = new List<PlannedChunk>();
        var tokens = 0;
        var candidates = ready.ToList();
        // Decodes: continuations first (at the position their step in flight samples), then the ready ones.
        var decodes = continuing.Select(s => new PlannedChunk(s, s.Tokens.Count, 1, Continues: true))
            .Concat(candidates.Where(s => s.PendingTokens == 1).Select(s => new PlannedChunk(s, s.ComputedLength, 1)));
        foreach (var decode in decodes)
        {
            if (chunks.Count == maxSequences || tokens == tokenBudget)
            {
                return chunks;
            }
            chunks.Add(decode);
            tokens++;
        }
        // Prompts in arrival order (the candidates come in admission order), each as much as the budget allows.
        foreach (var sequence in candidates.Where(s => s.PendingTokens > 1))
        {
            if (chunks.Count == maxSequences || tokens == tokenBudget)
            {
                break;
            }
            var length = Math.Min(sequence.PendingTokens, tokenBudget - tokens);
            chunks.Add(new PlannedChunk(sequence, sequence.ComputedLength, length));
            tokens += length;
        }
        return chunks;
    }
}
