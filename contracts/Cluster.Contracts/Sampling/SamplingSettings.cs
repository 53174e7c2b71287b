namespace Cluster.Contracts.Sampling;

/// <summary>
/// How the last stage turns a sequence's logits into a token, every default resolved: what the gateway's validated
/// request carries and every stage receives. Data only: the gateway's <c>GenerateRequestValidator</c> checks each
/// field against its wire name, and the silo's <c>RequestSampler</c> is the one mapping to the engine's sampler.
/// What stops a sequence (max_new_tokens, stop tokens, EOS) is not here: the gateway's stop checks own it.
/// </summary>
/// <param name="Temperature">0 (or below the engine's greedy threshold) = greedy.</param>
/// <param name="TopK">0 = off.</param>
/// <param name="TopP">1 = off.</param>
/// <param name="RepetitionPenalty">1 = off.</param>
/// <param name="Seed">Always set: the gateway draws one when the client sent none, so a replay samples the same tokens.</param>
/// <param name="TopLogprobs">Alternatives to report with each token (0 to 20).</param>
/// <param name="MinP">0 = off.</param>
/// <param name="Logprobs">Report log-probabilities (the chosen token's and <paramref name="TopLogprobs"/> alternatives); off,
/// the sampler skips the pass over the vocabulary that computes them.</param>
/// <param name="PresencePenalty">0 = off.</param>
/// <param name="FrequencyPenalty">0 = off.</param>
/// <param name="LogitBias">Null = off.</param>
/// <param name="Format">What the output must be (JSON mode, a JSON schema, a pattern); null = free text. New fields go last,
/// defaulting to the value that turns them off.</param>
[GenerateSerializer, Immutable]
public sealed record SamplingSettings(
    [property: Id(0)] float Temperature,
    [property: Id(1)] int TopK,
    [property: Id(2)] float TopP,
    [property: Id(3)] float RepetitionPenalty,
    [property: Id(4)] ulong Seed,
    [property: Id(5)] int TopLogprobs,
    [property: Id(6)] float MinP = 0f,
    [property: Id(7)] bool Logprobs = false,
    [property: Id(8)] float PresencePenalty = 0f,
    [property: Id(9)] float FrequencyPenalty = 0f,
    [property: Id(10)] LogitBias? LogitBias = null,
    [property: Id(11)] OutputFormat? Format = null);
