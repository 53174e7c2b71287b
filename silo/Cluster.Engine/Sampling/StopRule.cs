namespace Cluster.Engine.Sampling;

/// <summary>Decides, after each generated token, whether the sequence is finished.</summary>
public static class StopRule
{
    /// <summary>
    /// Checks the token just generated. A stop token wins over the length limit when both apply (the token that
    /// ended the text is the better explanation, as in vLLM). End-of-sequence ids count unless
    /// <see cref="StopConditions.IgnoreEos"/> is set; <see cref="StopConditions.StopTokenIds"/> always count.
    /// The stop token itself has been generated and counts towards usage; whether it is shown is the caller's choice.
    /// </summary>
    /// <param name="tokenId">The token just sampled.</param>
    /// <param name="generatedCount">Tokens generated so far, including <paramref name="tokenId"/> (so &gt;= 1).</param>
    /// <param name="p">The request's stop conditions.</param>
    /// <param name="eosTokenIds">The model's end-of-sequence ids (from its generation config; may be several).</param>
    public static FinishReason Check(int tokenId, int generatedCount, StopConditions p, IReadOnlyList<int> eosTokenIds)
    {
        ArgumentNullException.ThrowIfNull(p);
        ArgumentNullException.ThrowIfNull(eosTokenIds);
        ArgumentOutOfRangeException.ThrowIfLessThan(generatedCount, 1);

        if (!p.IgnoreEos && Contains(eosTokenIds, tokenId))
            return FinishReason.Stop;
        if (Contains(p.StopTokenIds, tokenId))
            return FinishReason.Stop;
        if (generatedCount >= p.MaxNewTokens)
            return FinishReason.Length;
        return FinishReason.None;
    }

    // The lists hold a handful of ids; a linear scan beats building a set every step.
    private static bool Contains(IReadOnlyList<int> ids, int tokenId)
    {
        for (int i = 0; i < ids.Count; i++)
        {
            if (ids[i] == tokenId)
                return true;
        }
        return false;
    }
}
