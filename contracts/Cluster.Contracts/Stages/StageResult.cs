namespace Cluster.Contracts.Stages;

/// <summary>
/// What a stage returns for a micro-batch: hidden states for the next stage, or (last stage) one sampled token per
/// entry that asked for sampling, in entry order. When <see cref="MissingSessions"/> is not empty, nothing was
/// computed: those sessions' caches hold fewer positions than their entries start at (evicted, expired or lost
/// with a silo), and the gateway must replay them; <see cref="OverBudgetSessions"/> likewise for entries the KV
/// budget could not hold even after evicting every idle session. <see cref="IdleSeconds"/>: when the step continues a
/// sequence of the stage's step before it, how long the silo's device sat idle between the two (what the hand-over
/// through the gateway cost the stage); 0 otherwise.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StageResult(
    [property: Id(0)] HiddenStates? Hidden,
    [property: Id(1)] IReadOnlyList<SampledTokenResult> Tokens,
    [property: Id(2)] IReadOnlyList<string> MissingSessions,
    [property: Id(3)] IReadOnlyList<string> OverBudgetSessions,
    [property: Id(4)] double ComputeSeconds,
    [property: Id(5)] string Silo = "",
    [property: Id(6)] double IdleSeconds = 0,
    [property: Id(7)] IReadOnlyList<PromptScores>? Scores = null)
{
    public bool Computed => MissingSessions.Count == 0 && OverBudgetSessions.Count == 0;
}

/// <summary>A sampled token with its log-probability and the requested top alternatives (descending).</summary>
[GenerateSerializer, Immutable]
public sealed record SampledTokenResult(
    [property: Id(0)] string SessionId,
    [property: Id(1)] int TokenId,
    [property: Id(2)] float Logprob,
    [property: Id(3)] int[] TopTokenIds,
    [property: Id(4)] float[] TopLogprobs);

/// <summary>
/// A scored chunk (<see cref="StageEntry.ScoreTop"/>): the log-probability of the token at each position from
/// <see cref="FirstPosition"/> on, given the tokens before it, under the model's own distribution (final norm, LM
/// head, log-softmax; no penalties or temperature), and at each the <c>top</c> most likely tokens, flattened by
/// position (descending).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PromptScores(
    [property: Id(0)] string SessionId,
    [property: Id(1)] int FirstPosition,
    [property: Id(2)] float[] Logprobs,
    [property: Id(3)] int[] TopTokenIds,
    [property: Id(4)] float[] TopLogprobs);
