using System.Collections.Concurrent;
using Cluster.Contracts.Stages;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>
/// A stage grain stand-in for scheduler tests: keeps each session's cached length with the real truncate-then-write
/// rule, answers MissingSessions like a real stage, and (last stage) "samples" a token that depends only on the
/// position, so a replayed sequence must produce the same tokens. Copies a named prefix from another session when that
/// session holds its tokens, and answers the entry missing otherwise, like a real stage. Takes a continuation's input
/// from its own last sample, as a real one-stage replica does. One call at a time, in arrival order, as a real
/// stage's device runs them. Records every batch it saw (continuations as they came).
/// </summary>
internal sealed class FakeStage(int index, int stageCount, FakePipelineProbe probe, long kvBudgetBytes = 1 << 20) : IStageGrain
{
    private readonly ConcurrentDictionary<string, int> _cached = new();
    private readonly ConcurrentDictionary<string, int[]> _tokens = new();
    private readonly ConcurrentDictionary<string, int> _lastSampledAt = new(); // the position of each session's last sampled token
    private Task _previousCall = Task.CompletedTask;

    public ConcurrentQueue<StageBatch> Batches { get; } = new();

    public ConcurrentQueue<(IReadOnlyList<string> Ids, CacheRelease Release)> Releases { get; } = new();

    /// <summary>Positions copied from a cached prefix instead of computed.</summary>
    public int PrefixHitTokens => Volatile.Read(ref _prefixHitTokens);

    private int _prefixHitTokens;

    /// <summary>
    /// Set to refuse a step for lack of KV-cache room: the sessions it returns for a batch are answered as
    /// OverBudgetSessions and nothing is computed, as a real stage whose budget others fill answers; none: the step runs.
    /// </summary>
    public Func<StageBatch, IReadOnlyList<string>>? RefuseRoom { get; set; }

    /// <summary>While set, Release waits for it to complete: a release still on its way to the stage.</summary>
    public TaskCompletionSource? HoldReleases { get; set; }

    /// <summary>
    /// Set to hold a computed step's answer until the task it returns for that batch completes (null: answer now); the
    /// stage takes the next calls meanwhile, so a later step can come back first.
    /// </summary>
    public Func<StageBatch, Task?>? HoldAnswer { get; set; }

    /// <summary>Set to make the next Forward throw this.</summary>
    public Exception? FailNext { get; set; }

    private Exception? _outage;
    private int _outageCallsLeft;

    /// <summary>
    /// Makes the next <paramref name="calls"/> Forward calls throw <paramref name="error"/>, as calls to a stage whose
    /// silo died do until it re-activates elsewhere; int.MaxValue: it never comes back. With <paramref name="loseCaches"/>
    /// the stage comes back empty, as a fresh activation on another silo does.
    /// </summary>
    public void Outage(Exception error, int calls, bool loseCaches)
    {
        if (loseCaches)
        {
            _cached.Clear();
            _tokens.Clear();
            _lastSampledAt.Clear();
        }
        _outage = error;
        Volatile.Write(ref _outageCallsLeft, calls);
    }

    /// <summary>Forward calls that threw the outage's error.</summary>
    public int OutageFailures => Volatile.Read(ref _outageFailures);

    private int _outageFailures;

    /// <summary>
    /// Set to make the next Forward call never answer, as a call forwarded to a silo that died is never answered; it
    /// completes the given source when the call arrives.
    /// </summary>
    public TaskCompletionSource? HangNext { get; set; }

    /// <summary>Forgets a session's cache, as an eviction or a lost silo would.</summary>
    public void Drop(string sessionId)
    {
        _cached.TryRemove(sessionId, out _);
        _tokens.TryRemove(sessionId, out _);
        _lastSampledAt.TryRemove(sessionId, out _);
    }

    public int CachedLength(string sessionId) => _cached.GetValueOrDefault(sessionId);

    public static int TokenAt(int position) => 100 + position % 50;

    /// <summary>The <paramref name="count"/> tokens a sequence with a prompt of <paramref name="promptLength"/> generates here, whatever happens on the way.</summary>
    public static List<int> TokensAfter(int promptLength, int count) => Enumerable.Range(0, count).Select(i => TokenAt(promptLength + i)).ToList();

    private bool Holds(string sessionId, int[] prefix) =>
        _cached.GetValueOrDefault(sessionId) >= prefix.Length && _tokens.TryGetValue(sessionId, out var held) && held.AsSpan(0, Math.Min(held.Length, prefix.Length)).SequenceEqual(prefix);

    public Task<StageDescription> Describe() => Task.FromResult(new StageDescription(
        new StageKey("fake", 0, index), "llama", 4, index, index + 1, 4096, 1024, "silo", "cpu", "float32",
        KvBudgetBytes: kvBudgetBytes, KvBytesPerToken: 256, KvBlockTokens: 64, EosTokenIds: []));

    public async Task<StageResult> Forward(StageBatch batch)
    {
        if (index == 0)
        {
            probe.Entered();
        }
        foreach (var entry in batch.Entries)
        {
            probe.Log($"forward {index} {entry.SessionId}");
        }
        var leavesPipeline = index == stageCount - 1; // or earlier, when it refuses or fails
        var turn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await Interlocked.Exchange(ref _previousCall, turn.Task);
        try
        {
            await Task.Delay(2); // let other micro-batches get launched and overlap, as real compute would
            Batches.Enqueue(batch);
            if (FailNext is { } failure)
            {
                FailNext = null;
                leavesPipeline = true;
                throw failure;
            }
            if (HangNext is { } hang)
            {
                HangNext = null;
                leavesPipeline = true;
                hang.TrySetResult();
                turn.TrySetResult(); // the silo died: its next activation takes the calls that follow
                await Task.Delay(Timeout.Infinite);
            }
            if (_outage is { } outage && Interlocked.Decrement(ref _outageCallsLeft) >= 0)
            {
                Interlocked.Increment(ref _outageFailures);
                leavesPipeline = true;
                throw outage;
            }
            var unresolved = batch.Entries.Where(e => e.ContinuesSample
                && (_lastSampledAt.GetValueOrDefault(e.SessionId, -1) != e.StartPosition || _cached.GetValueOrDefault(e.SessionId) != e.StartPosition)).Select(e => e.SessionId).ToList();
            if (unresolved.Count > 0)
            {
                leavesPipeline = true;
                return new StageResult(null, [], unresolved, [], 0);
            }
            batch = batch with { Entries = [.. batch.Entries.Select(e => e.ContinuesSample ? e with { TokenIds = [TokenAt(e.StartPosition)], ContinuesSample = false } : e)] };
            var missing = batch.Entries.Where(e => e.Prefix is { } prefix
                    ? !Holds(e.SessionId, prefix.TokenIds) && !Holds(prefix.SessionId, prefix.TokenIds)
                    : e.StartPosition > _cached.GetValueOrDefault(e.SessionId))
                .Select(e => e.SessionId).ToList();
            if (missing.Count > 0)
            {
                leavesPipeline = true;
                return new StageResult(null, [], missing, [], 0);
            }
            if (RefuseRoom?.Invoke(batch) is { Count: > 0 } overBudget)
            {
                leavesPipeline = true;
                return new StageResult(null, [], [], overBudget, 0);
            }
            foreach (var entry in batch.Entries)
            {
                if (entry.Prefix is { } prefix && !Holds(entry.SessionId, prefix.TokenIds))
                {
                    _tokens[entry.SessionId] = prefix.TokenIds;
                    Interlocked.Add(ref _prefixHitTokens, prefix.TokenIds.Length);
                }
                var before = _tokens.GetValueOrDefault(entry.SessionId) ?? [];
                _tokens[entry.SessionId] = [.. before.Take(entry.StartPosition), .. entry.TokenIds];
                _cached[entry.SessionId] = entry.StartPosition + entry.TokenIds.Length;
            }
            if (index < stageCount - 1)
            {
                return new StageResult(new HiddenStates(new byte[4 * batch.Entries.Sum(e => e.TokenIds.Length)], batch.Entries.Sum(e => e.TokenIds.Length), 1, "float32"), [], [], [], 0.001);
            }
            var tokens = batch.Entries.Where(e => e.Sampling is not null)
                .Select(e => new SampledTokenResult(e.SessionId, TokenAt(e.StartPosition + e.TokenIds.Length), -0.5f, [], []))
                .ToList();
            foreach (var entry in batch.Entries.Where(e => e.Sampling is not null))
            {
                _lastSampledAt[entry.SessionId] = entry.StartPosition + entry.TokenIds.Length;
            }
            if (HoldAnswer?.Invoke(batch) is { } held)
            {
                turn.TrySetResult();
                probe.Pulse(); // the step is computed: a test waiting for it sees it now, before its answer
                await held;
            }
            return new StageResult(null, tokens, [], [], 0.001);
        }
        finally
        {
            if (leavesPipeline)
            {
                probe.Left();
            }
            turn.TrySetResult();
            probe.Pulse(); // what the call changed (batches, refusals, failures) is there for a waiting test to see
        }
    }

    public Task<InspectResult> Inspect(InspectBatch batch) => throw new NotSupportedException("The scheduler tests' fake stage does not inspect; Inspect runs on real stages in the end-to-end tests.");

    public Task<EmbedResult> Embed(EmbedBatch batch) => throw new NotSupportedException("The scheduler tests' fake stage does not embed; EmbeddingTests run on real stages.");

    public async Task Release(IReadOnlyList<string> sessionIds, CacheRelease release)
    {
        Releases.Enqueue((sessionIds, release));
        probe.Pulse();
        if (HoldReleases is { } hold)
        {
            await hold.Task;
        }
        if (release == CacheRelease.Free)
        {
            foreach (var id in sessionIds)
            {
                Drop(id);
            }
        }
        foreach (var id in sessionIds)
        {
            probe.Log($"released {index} {id}");
        }
    }

    public Task<int> ExpireIdleSessions() => Task.FromResult(0);

    public Task<StageStatus> GetStatus() => Task.FromResult(new StageStatus(_cached.Count, 0, 0, 1 << 20, 0, Batches.Count, 0, "silo"));
}

/// <summary>Counts micro-batches between entering the first stage and leaving the last: how deep the pipeline runs.</summary>
internal sealed class FakePipelineProbe
{
    private int _inPipeline;
    private int _maxInPipeline;

    public int MaxInPipeline => Volatile.Read(ref _maxInPipeline);

    /// <summary>What the stages saw, in order: "forward {stage} {session}" on entry, "released {stage} {session}" when done.</summary>
    public ConcurrentQueue<string> Events { get; } = new();

    public void Log(string e) => Events.Enqueue(e);

    public void Entered()
    {
        var now = Interlocked.Increment(ref _inPipeline);
        int seen;
        while (now > (seen = Volatile.Read(ref _maxInPipeline)) && Interlocked.CompareExchange(ref _maxInPipeline, now, seen) != seen)
        {
        }
    }

    public void Left() => Interlocked.Decrement(ref _inPipeline);

    /// <summary>Raised after every stage call and release: a test waiting on stage state re-checks then, instead of polling.</summary>
    public event Action? Changed;

    public void Pulse() => Changed?.Invoke();
}
