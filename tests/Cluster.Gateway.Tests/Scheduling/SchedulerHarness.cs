using Cluster.Contracts.Api;
using Cluster.Contracts.Sampling;
using Cluster.Contracts.Stages;
using Cluster.Gateway.Requests;
using Cluster.Gateway.Scheduling;
using Cluster.Gateway.Streaming;
using Cluster.Testing;
using Cluster.Tokenizers;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cluster.Gateway.Tests.Scheduling;

/// <summary>A replica scheduler over <see cref="FakeStage"/>s, with a real GPT-2 BPE tokenizer for the text stream.</summary>
internal sealed class SchedulerHarness : IAsyncDisposable
{
    private static readonly Lazy<(TempDirectory Directory, CheckpointTokenizer Tokenizer)> SharedTokenizer = new(() =>
    {
        var directory = TempDirectory.Create("scheduler-tokenizer");
        TinyTokenizerFiles.WriteGpt2Bpe(directory.Path);
        return (directory, CheckpointTokenizer.Load(directory.Path));
    });

    private int _requests;

    public SchedulerHarness(int stageCount, SchedulerOptions? options = null, IReadOnlyList<int>? eosTokenIds = null, long kvBudgetBytes = 1 << 20, TimeProvider? time = null)
    {
        Stages = Enumerable.Range(0, stageCount).Select(i => new FakeStage(i, stageCount, Probe, kvBudgetBytes)).ToList();
        var keys = Enumerable.Range(0, stageCount).Select(i => new StageKey("fake", 0, i)).ToList();
        var descriptions = Stages.Select(s => s.Describe().Result).ToList();
        Capacity = new ReplicaCapacity(descriptions);
        Scheduler = new ReplicaScheduler(new PipelineDriver(Stages, keys, () => Volatile.Read(ref _siloLoss).Task), Capacity, options ?? new SchedulerOptions(),
            new TokenResponses(Tokenizer, eosTokenIds ?? [], descriptions.Select(d => d.Silo).ToList()), NullLogger.Instance, time);
        Scheduler.Turned += Changed;
        Probe.Changed += Changed;
    }

    public static CheckpointTokenizer Tokenizer => SharedTokenizer.Value.Tokenizer;

    public FakePipelineProbe Probe { get; } = new();

    private TaskCompletionSource _siloLoss = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A silo leaves the cluster: what <see cref="SiloLossWatch"/> tells the pipeline (each departure completes the task handed out before it).</summary>
    public void SignalSiloLoss() => Interlocked.Exchange(ref _siloLoss, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    public List<FakeStage> Stages { get; }

    public ReplicaCapacity Capacity { get; }

    public ReplicaScheduler Scheduler { get; }

    public RunningSequence Submit(int promptLength, int maxNewTokens, string? sessionId = null, IReadOnlyList<int>? history = null, int cachedLength = 0, IReadOnlyList<int>? stopTokenIds = null,
        Action? onAccepted = null, IReadOnlyList<int>? prompt = null)
    {
        var sequence = Create(promptLength, maxNewTokens, sessionId, history, cachedLength, stopTokenIds, prompt: prompt);
        Scheduler.Submit(sequence, onAccepted);
        return sequence;
    }

    /// <summary>A sequence as the gRPC handler builds it, not yet submitted; its prompt is <paramref name="prompt"/>, or the same <paramref name="promptLength"/> tokens for every sequence.</summary>
    public RunningSequence Create(int promptLength, int maxNewTokens, string? sessionId = null, IReadOnlyList<int>? history = null, int cachedLength = 0, IReadOnlyList<int>? stopTokenIds = null,
        DateTime? deadline = null, IReadOnlyList<int>? prompt = null)
    {
        prompt ??= Enumerable.Range(0, promptLength).Select(i => 10 + i % 90).ToList();
        var request = new GenerationRequest($"req-{Interlocked.Increment(ref _requests)}", "fake", prompt, sessionId,
            new SamplingSettings(0f, 0, 1f, 1f, 7, 0, Logprobs: true), maxNewTokens, [], stopTokenIds ?? [], false);
        var sequence = new RunningSequence(request, sessionId ?? request.RequestId, history ?? [], cachedLength,
            TextStream.Create(Tokenizer, [])) { Deadline = deadline };
        return sequence;
    }

    /// <summary>Every message of the sequence's stream, failing the test if it does not finish within a minute.</summary>
    public static async Task<List<GenerateResponse>> ReadAllAsync(RunningSequence sequence)
    {
        var responses = new List<GenerateResponse>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            await foreach (var response in sequence.Output.Reader.ReadAllAsync(timeout.Token))
            {
                responses.Add(response);
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"Sequence {sequence.Request.RequestId} did not finish within a minute; it streamed {responses.Count} messages.");
        }
        return responses;
    }

    public static List<int> TokenIds(IEnumerable<GenerateResponse> responses) => responses.SelectMany(r => r.TokenIds).ToList();

    /// <summary>
    /// Sequence i (prompt of <paramref name="promptLengthOfFirst"/> + i tokens) streamed exactly its
    /// <paramref name="count"/> tokens (<see cref="FakeStage.TokensAfter"/>) and ended at its length.
    /// </summary>
    public static async Task AssertRunToLengthAsync(IReadOnlyList<RunningSequence> sequences, int promptLengthOfFirst, int count)
    {
        for (var i = 0; i < sequences.Count; i++)
        {
            var responses = await ReadAllAsync(sequences[i]);
            var expected = FakeStage.TokensAfter(promptLengthOfFirst + i, count);
            var streamed = TokenIds(responses);
            Assert.True(expected.SequenceEqual(streamed), $"Sequence {i}: expected [{string.Join(",", expected)}], streamed [{string.Join(",", streamed)}].");
            Assert.Equal(FinishReason.Length, responses[^1].FinishReason);
        }
    }

    /// <summary>
    /// Waits until <paramref name="condition"/> (state the scheduler's loop or the fake stages change) holds, checking it
    /// again after each turn of the loop and each stage call or release; fails after 30 s naming <paramref name="what"/>.
    /// </summary>
    public async Task WaitForAsync(Func<bool> condition, string what)
    {
        var limit = TimeSpan.FromSeconds(30);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            var left = limit - clock.Elapsed;
            if (left <= TimeSpan.Zero || !await _changed.WaitAsync(left))
            {
                if (condition())
                {
                    return;
                }
                Assert.Fail($"Timed out after {limit.TotalSeconds:F0} s waiting for {what}.");
            }
        }
    }

    // Released on every change the harness can observe; a wake-up that finds nothing new just waits again.
    private readonly SemaphoreSlim _changed = new(0);

    private void Changed()
    {
        if (_changed.CurrentCount == 0)
        {
            _changed.Release();
        }
    }

    public ValueTask DisposeAsync() => Scheduler.DisposeAsync();
}
