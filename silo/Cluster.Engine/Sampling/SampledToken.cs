namespace Cluster.Engine.Sampling;

/// <summary>A token and its log-probability under the model's (penalized, unscaled) distribution.</summary>
public readonly record struct TokenLogprob(int TokenId, float Logprob);

/// <summary>
/// What one sampling step produced: the chosen token, its log-probability, and the
/// <see cref="SamplingParameters.TopLogprobs"/> most likely tokens (descending, ties by lower id).
/// </summary>
/// <remarks>
/// Log-probabilities are log_softmax of the logits after the logit bias and the penalties and before temperature, top-k and
/// top-p, like vLLM's raw logprobs: they describe the model, not the sampler's filtered distribution, so a token
/// kept out by top-k still has its true logprob, and greedy decoding still reports probabilities below 1.
/// </remarks>
public sealed record SampledToken(int TokenId, float Logprob, IReadOnlyList<TokenLogprob> TopAlternatives);
