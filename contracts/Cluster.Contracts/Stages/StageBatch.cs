using Cluster.Contracts.Sampling;

namespace Cluster.Contracts.Stages;

/// <summary>
/// One micro-batch for one stage: the entries (one per sequence) and, for every stage after the first, the hidden
/// states the previous stage produced for them, packed in entry order.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StageBatch(
    [property: Id(0)] long StepId,
    [property: Id(1)] IReadOnlyList<StageEntry> Entries,
    [property: Id(2)] HiddenStates? Hidden);

/// <summary>
/// One sequence's part of a step: <see cref="TokenIds"/> at positions [StartPosition, StartPosition + count).
/// Every stage gets the token ids (a few bytes): stage 0 embeds them, the last stage keeps the history for the
/// repetition penalty. <see cref="ReserveTokens"/> is the most positions the sequence will reach, so the cache is
/// allocated once. <see cref="Sampling"/> is set when this chunk ends where a token is to be sampled (the last chunk
/// of a prompt, or a decode step); the last stage samples only those. <see cref="Prefix"/> is set on a prefix-cache
/// hit: positions [0, StartPosition) come from another sequence's cache instead of being computed.
/// <see cref="ContinuesSample"/>: the entry's one input token is the one this stage sampled for the session in its
/// previous step, at StartPosition, and <see cref="TokenIds"/> is empty. A one-stage replica's gateway sends such a step
/// before the previous one has answered, so the stage never waits a round trip between two decode steps (overlap
/// scheduling, as vLLM's async scheduling and SGLang's overlap scheduler); only a stage that embeds and samples takes it.
/// <see cref="ScoreTop"/> &gt;= 0 asks the last stage to score the chunk's tokens (a prompt's log-probabilities, see
/// <see cref="PromptScores"/>) with that many alternatives; <see cref="NextTokenId"/> is the token after the chunk when
/// it is known and not sampled (a prompt chunk before the last), so the chunk's last row is scored too.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StageEntry(
    [property: Id(0)] string SessionId,
    [property: Id(1)] int StartPosition,
    [property: Id(2)] int[] TokenIds,
    [property: Id(3)] int ReserveTokens,
    [property: Id(4)] SamplingRequest? Sampling,
    [property: Id(5)] PrefixSource? Prefix = null,
    [property: Id(6)] bool ContinuesSample = false,
    [property: Id(7)] int ScoreTop = -1,
    [property: Id(8)] int NextTokenId = -1);

/// <summary>
/// A prefix-cache hit: the session of <see cref="SessionId"/> holds <see cref="TokenIds"/> at positions
/// [0, TokenIds.Length), which is where the entry starts. Each stage checks the tokens against what that session's cache
/// really holds before it copies them, so a stale guess costs a replay, never a wrong answer: a stage that cannot
/// (the source was evicted, expired, lost or rewritten) answers the entry as missing.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PrefixSource(
    [property: Id(0)] string SessionId,
    [property: Id(1)] int[] TokenIds);

/// <summary>
/// How the last stage picks the token for one request: its <see cref="SamplingSettings"/>, and
/// <see cref="DrawIndex"/>, how many tokens this request has sampled before: a sampler rebuilt after a failover or
/// eviction skips that many random draws, so a seeded request gives the same tokens whatever happened to the cache.
/// <see cref="RequestId"/> separates a session's turns.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SamplingRequest(
    [property: Id(0)] string RequestId,
    [property: Id(1)] SamplingSettings Settings,
    [property: Id(2)] int DrawIndex);

/// <summary>
/// Hidden states (tokens, width) as raw bytes in <see cref="DType"/> ("float32", "bfloat16", "float16"). Raw bytes
/// because Orleans copies a byte[] as one block and a float[] element by element (5 to 7 times slower).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record HiddenStates(
    [property: Id(0)] byte[] Data,
    [property: Id(1)] int Tokens,
    [property: Id(2)] int Width,
    [property: Id(3)] string DType);
