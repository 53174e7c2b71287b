using Cluster.Engine.Sampling;

namespace Cluster.Engine.Generation;

/// <summary>One generated token with its log-probability, the top alternatives asked for, and whether it ends the sequence.</summary>
public sealed record GeneratedToken(int TokenId, float Logprob, IReadOnlyList<TokenLogprob> TopAlternatives, FinishReason Finish);
