namespace Cluster.Engine.Sampling;

/// <summary>
/// When one sequence stops generating: what stops, nothing about how tokens are drawn (that is
/// <see cref="SamplingParameters"/>). Immutable; <see cref="StopRule"/> applies it after each token and
/// <see cref="Generation.SequenceGenerator"/> validates it once before the first.
/// </summary>
public sealed record StopConditions
{
    /// <summary>The most tokens to generate; reaching it finishes with <see cref="FinishReason.Length"/>. Must be &gt; 0.</summary>
    public int MaxNewTokens { get; init; } = 256;

    /// <summary>Token ids that finish the request with <see cref="FinishReason.Stop"/>, even when <see cref="IgnoreEos"/> is set.</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];

    /// <summary>Keep generating past the model's end-of-sequence tokens (benchmarks); <see cref="StopTokenIds"/> still apply.</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> for the first setting out of range, in the shape of
    /// <see cref="SamplingParameters.Validate"/>: wire name, limit, value received; the property as its parameter name.
    /// </summary>
    public void Validate()
    {
        if (MaxNewTokens <= 0)
            throw SettingError.Invalid(nameof(MaxNewTokens), "max_new_tokens", "must be > 0", MaxNewTokens);
        if (StopTokenIds is null)
            throw new ArgumentException("stop_token_ids must not be null (use an empty list).", nameof(StopTokenIds));
        foreach (int id in StopTokenIds)
        {
            if (id < 0)
                throw SettingError.Invalid(nameof(StopTokenIds), "stop_token_ids", "must contain only token ids >= 0", id);
        }
    }
}
