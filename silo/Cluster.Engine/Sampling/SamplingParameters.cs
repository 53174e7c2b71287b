namespace Cluster.Engine.Sampling;

/// <summary>
/// How one sequence turns logits into tokens: what samples, nothing about when to stop (that is
/// <see cref="StopConditions"/>). Immutable; <see cref="TokenSampler"/> validates it once when it is created.
/// </summary>
/// <remarks>
/// The processing order is vLLM's: logit bias, repetition penalty, frequency and presence penalties, then temperature,
/// then min-p, then top-k, then top-p, then a draw from what is left. See <see cref="TokenSampler"/> for the exact semantics.
/// </remarks>
public sealed record SamplingParameters
{
    /// <summary>The most alternatives a step may report; matches OpenAI's and vLLM's usual cap.</summary>
    public const int MaxTopLogprobs = 20;

    /// <summary>The presence and frequency penalties lie in [-this, this] (OpenAI's range).</summary>
    public const float MaxPenalty = 2f;

    /// <summary>Each logit bias lies in [-this, this] (OpenAI's range).</summary>
    public const float MaxLogitBias = 100f;

    /// <summary>
    /// Greedy, without log-probabilities: one pass over the logits per token, what a request that asks for neither
    /// runs in the cluster (and what llama.cpp computes); the benchmarks' and the load tool's engine sampler.
    /// </summary>
    public static SamplingParameters GreedyTokensOnly { get; } = new() { Temperature = 0, Logprobs = false };

    /// <summary>
    /// Divides the (penalized) logits before top-k/top-p and the draw. 0, or anything below
    /// <see cref="TokenSampler.GreedyTemperatureThreshold"/>, means greedy: the highest logit, ties to the lowest id,
    /// and no random numbers consumed. Must be finite and &gt;= 0.
    /// </summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Keep only the k highest-ranked tokens (ties by lower id). 0 disables top-k. Must be &gt;= 0.</summary>
    public int TopK { get; init; } = 0;

    /// <summary>
    /// Nucleus sampling: keep the smallest set of most probable tokens whose probability sums to at least p.
    /// 1 disables it (every token stays, however unlikely). Must be in (0, 1].
    /// </summary>
    public float TopP { get; init; } = 1f;

    /// <summary>
    /// Min-p (vLLM's <c>min_p</c>): after temperature, drop every token whose probability is below min_p times the most
    /// likely token's. The most likely token always stays. 0 disables it. Must be in [0, 1].
    /// </summary>
    public float MinP { get; init; } = 0f;

    /// <summary>
    /// CTRL / Hugging Face repetition penalty, applied once to every distinct token already in the prompt or the
    /// output: a positive logit is divided by it, a negative one multiplied, so values above 1 always make a seen
    /// token less likely. 1 disables it. Must be finite and &gt; 0.
    /// </summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>
    /// OpenAI's presence penalty, on this request's own output only (as vLLM applies it; the prompt is the repetition
    /// penalty's): subtracted once from the logit of every token generated so far. 0 disables it. Must be in [-2, 2].
    /// </summary>
    public float PresencePenalty { get; init; } = 0f;

    /// <summary>
    /// OpenAI's frequency penalty, on this request's own output only: subtracted from a token's logit once for every
    /// time it was generated so far. 0 disables it. Must be in [-2, 2].
    /// </summary>
    public float FrequencyPenalty { get; init; } = 0f;

    /// <summary>
    /// OpenAI's logit bias: added to the given tokens' logits before every other step, greedy's choice included.
    /// Null or empty disables it. Each value must be in [-100, 100]; each id must be in the vocabulary
    /// (<see cref="TokenSampler.Sample"/> checks that, knowing its size).
    /// </summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>
    /// Seeds this sequence's own random stream, so the same seed gives the same tokens however the request is
    /// batched. <c>null</c> draws a seed from the operating system's cryptographic generator.
    /// </summary>
    public ulong? Seed { get; init; }

    /// <summary>How many most likely alternatives to report with each token. Must be in [0, <see cref="MaxTopLogprobs"/>].</summary>
    public int TopLogprobs { get; init; } = 0;

    /// <summary>
    /// Report log-probabilities: the chosen token's and <see cref="TopLogprobs"/> alternatives. They cost a pass of
    /// exponentials (in double) over the whole vocabulary per token, the larger part of a greedy step's sampling, so a
    /// request that does not ask for them skips it, as vLLM does: its tokens carry <see cref="float.NaN"/> and no
    /// alternatives. The tokens drawn are the same either way.
    /// </summary>
    public bool Logprobs { get; init; } = true;

    /// <summary>
    /// Throws <see cref="ArgumentException"/> for the first setting out of range. The message starts with the
    /// field's wire name (snake_case, as clients spell it), states the limit and the value received;
    /// <see cref="ArgumentException.ParamName"/> is the property name.
    /// </summary>
    public void Validate()
    {
        // float.IsFinite is false for NaN and both infinities, so one test covers "NaN/inf".
        if (!float.IsFinite(Temperature) || Temperature < 0f)
            throw SettingError.Invalid(nameof(Temperature), "temperature", "must be a finite number >= 0 (0 = greedy)", Temperature);
        if (TopK < 0)
            throw SettingError.Invalid(nameof(TopK), "top_k", "must be >= 0 (0 = disabled)", TopK);
        // Written as !(in range) so that NaN, which fails every comparison, is rejected too.
        if (!(TopP > 0f && TopP <= 1f))
            throw SettingError.Invalid(nameof(TopP), "top_p", "must be in (0, 1] (1 = disabled)", TopP);
        if (!(MinP >= 0f && MinP <= 1f))
            throw SettingError.Invalid(nameof(MinP), "min_p", "must be in [0, 1] (0 = disabled)", MinP);
        if (!float.IsFinite(RepetitionPenalty) || RepetitionPenalty <= 0f)
            throw SettingError.Invalid(nameof(RepetitionPenalty), "repetition_penalty", "must be a finite number > 0 (1 = disabled)", RepetitionPenalty);
        if (!(PresencePenalty >= -MaxPenalty && PresencePenalty <= MaxPenalty))
            throw SettingError.Invalid(nameof(PresencePenalty), "presence_penalty", $"must be in [-{MaxPenalty}, {MaxPenalty}] (0 = disabled)", PresencePenalty);
        if (!(FrequencyPenalty >= -MaxPenalty && FrequencyPenalty <= MaxPenalty))
            throw SettingError.Invalid(nameof(FrequencyPenalty), "frequency_penalty", $"must be in [-{MaxPenalty}, {MaxPenalty}] (0 = disabled)", FrequencyPenalty);
        foreach (var (id, bias) in LogitBias ?? System.Collections.Immutable.ImmutableDictionary<int, float>.Empty)
        {
            if (id < 0)
                throw SettingError.Invalid(nameof(LogitBias), "logit_bias", "token ids must be >= 0", id);
            if (!(bias >= -MaxLogitBias && bias <= MaxLogitBias))
                throw SettingError.Invalid(nameof(LogitBias), $"logit_bias[{id}]", $"must be in [-{MaxLogitBias}, {MaxLogitBias}]", bias);
        }
        if (TopLogprobs is < 0 or > MaxTopLogprobs)
            throw SettingError.Invalid(nameof(TopLogprobs), "top_logprobs", $"must be in [0, {MaxTopLogprobs}]", TopLogprobs);
    }
}
