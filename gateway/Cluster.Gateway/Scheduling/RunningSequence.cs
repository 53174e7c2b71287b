using System.Diagnostics;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Streaming;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// One request's sequence inside a replica's scheduler: the tokens it holds, how many of them the stages have in
/// their KV caches, what it has generated, and where its output goes. Owned by the scheduler loop: only that loop
/// reads or writes it (the gRPC handler only reads <see cref="Output"/>).
/// </summary>
internal sealed class RunningSequence(GenerationRequest request, string stageSessionId, IReadOnlyList<int> history, int cachedLength, TextStream text,
    RequestClock? clock = null)
{
    public GenerationRequest Request { get; } = request;

    /// <summary>The id the stages know this sequence's KV cache by: the session id, or the request id for one-shot requests.</summary>
    public string StageSessionId { get; } = stageSessionId;

    /// <summary>Every token of the sequence: earlier turns, this prompt, what was generated.</summary>
    public List<int> Tokens { get; } = [.. history, .. request.PromptTokens];

    /// <summary>How many leading <see cref="Tokens"/> the stages hold in their caches.</summary>
    public int ComputedLength { get; set; } = cachedLength;

    /// <summary>
    /// Positions the stages held when the request arrived (reported as cached prompt tokens); 0 once a stage turned
    /// out to have lost them and the history was replayed.
    /// </summary>
    public int CachedAtStart { get; set; } = cachedLength;

    public int HistoryLength { get; } = history.Count;

    public int Generated { get; set; }

    /// <summary>The most positions this sequence can reach: what the stages reserve for it.</summary>
    public int ReserveTokens => HistoryLength + Request.PromptTokens.Count + Request.MaxNewTokens;

    public TextStream Text { get; } = text;

    public SequenceOutput Output { get; } = new();

    /// <summary>The prompt's log-probabilities, when the request scores its prompt (one-shot requests: positions are the prompt's).</summary>
    public PromptScoreBook? PromptScores { get; } = request.PromptLogprobs is { } top ? new PromptScoreBook(request.PromptTokens, top) : null;

    /// <summary>
    /// A step with this sequence is on its way through the stages, or the sequence is parked waiting for a stage's room:
    /// either way the loop steps it only by continuing a sampling step (<see cref="LatestStepSamples"/>) and retires it
    /// only when a token says so (a cancel is noted and applied when a step comes back).
    /// </summary>
    public bool InFlight => StepsInFlight > 0 || Parked;

    /// <summary>Steps with this sequence on their way through the stages: two while a continuation follows a sampling step.</summary>
    public int StepsInFlight { get; set; }

    /// <summary>The newest step launched with this sequence samples its next token, so a continuation may follow it.</summary>
    public bool LatestStepSamples { get; set; }

    /// <summary>Parked until a stage has room: its caches were released and it goes back to waiting after a back-off.</summary>
    public bool Parked { get; set; }

    /// <summary>How many times a stage refused this sequence for lack of KV-cache room after it was admitted.</summary>
    public int StageRoomRefusals { get; set; }

    /// <summary>
    /// Completes once every stage has answered this sequence's release. A session's turn ends only after it, so the
    /// next turn can never be overtaken by the previous turn's late "park this session" on a stage.
    /// </summary>
    public TaskCompletionSource StagesReleased { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool CancelRequested { get; set; }

    /// <summary>
    /// When the client stops waiting (its gRPC deadline), in UTC; null when it set none. The scheduler stops the
    /// sequence at its first event past it, whether or not the call's cancellation ever reaches the handler.
    /// </summary>
    public DateTime? Deadline { get; init; }

    public bool Finished { get; set; }

    /// <summary>Started when the request arrived, so TTFT and queue time include reading, validating and tokenizing it.</summary>
    public RequestClock Clock { get; } = clock ?? RequestClock.StartNow();

    public TimeSpan? QueueTime { get; set; }

    public TimeSpan? TimeToFirstToken { get; set; }

    /// <summary>When the last token was appended (on <see cref="Clock"/>): the start of the next inter-token interval.</summary>
    public TimeSpan LastTokenAt { get; set; }

    /// <summary>The request's span (default when nobody traces): parent of its queue span, parent or link of its steps.</summary>
    public ActivityContext TraceContext { get; set; }

    /// <summary>Pipeline steps this sequence took part in, and per stage their compute and round-trip seconds.</summary>
    public StepTimings Steps { get; } = new();

    /// <summary>
    /// A prefix-cache hit not yet carried out: the stage session to copy positions [0, Tokens) from. Set when the
    /// sequence is admitted, sent with its first chunk, cleared once that step succeeds (or a stage could not copy).
    /// </summary>
    public (string Source, int Tokens)? PrefixHit { get; set; }

    /// <summary>
    /// Waiting for another running sequence to finish computing a prefix this one shares (up to Tokens), so that the
    /// shared part is computed once; the scheduler steps the sequence only once that is over.
    /// </summary>
    public (RunningSequence Owner, int Tokens)? PrefixWait { get; set; }

    /// <summary>The order the sequence reached its replica's scheduler in (1 = first).</summary>
    public long Arrival { get; set; }

    /// <summary>Whole blocks of <see cref="Tokens"/> recorded in the replica's <see cref="PrefixIndex"/>.</summary>
    public int RecordedPrefixBlocks { get; set; }

    /// <summary>Tokens not yet in the caches (a prompt still being prefilled, or the last sampled token).</summary>
    public int PendingTokens => Tokens.Count - ComputedLength;
}
