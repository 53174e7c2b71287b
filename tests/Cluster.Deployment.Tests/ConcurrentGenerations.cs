using System.Diagnostics;
using Cluster.Contracts.Api;
using Grpc.Core;
using Grpc.Net.Client;

namespace Cluster.Deployment.Tests;

/// <summary>
/// Several greedy generations streamed at once through the gateway's gRPC API, every token recorded with its arrival
/// time (on one <see cref="Stopwatch"/> timeline), so a fault test can compare the tokens with an undisturbed run's
/// and measure the stall around a fault.
/// </summary>
internal sealed class ConcurrentGenerations
{
    private readonly TaskCompletionSource _everyStreamStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _tokensBeforeStarted;
    private int _streamsStarted;

    private ConcurrentGenerations(IReadOnlyList<string> prompts, int tokensBeforeStarted)
    {
        _tokensBeforeStarted = tokensBeforeStarted;
        Streams = prompts.Select(p => new Stream(p)).ToList();
    }

    public sealed record Token(int Id, long Timestamp);

    public sealed class Stream(string prompt)
    {
        public string Prompt { get; } = prompt;
        public List<Token> Tokens { get; } = [];
        public bool Finished { get; set; }
        public FinishReason FinishReason { get; set; }

        public List<int> Ids
        {
            get
            {
                lock (Tokens)
                {
                    return Tokens.Select(t => t.Id).ToList();
                }
            }
        }
    }

    public IReadOnlyList<Stream> Streams { get; }

    /// <summary>Completes once every stream has received <c>tokensBeforeStarted</c> tokens: the moment to strike mid-way.</summary>
    public Task EveryStreamStarted => _everyStreamStarted.Task;

    public Task Completion { get; private set; } = Task.CompletedTask;

    public static ConcurrentGenerations Start(GrpcChannel channel, IReadOnlyList<string> prompts, int maxNewTokens, int tokensBeforeStarted = 1)
    {
        var run = new ConcurrentGenerations(prompts, tokensBeforeStarted);
        var client = new Generation.GenerationClient(channel);
        run.Completion = Task.WhenAll(run.Streams.Select(s => run.ReadAsync(client, s, maxNewTokens)));
        return run;
    }

    private async Task ReadAsync(Generation.GenerationClient client, Stream stream, int maxNewTokens)
    {
        await Task.Yield();
        var request = new GenerateRequest
        {
            Text = stream.Prompt,
            Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = (uint)maxNewTokens, IgnoreEos = true },
        };
        using var call = client.Generate(request, deadline: DateTime.UtcNow.AddMinutes(2));
        var counted = false;
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            var now = Stopwatch.GetTimestamp();
            lock (stream.Tokens)
            {
                stream.Tokens.AddRange(response.TokenIds.Select(id => new Token(id, now)));
            }
            if (response.FinishReason != FinishReason.Unspecified)
            {
                stream.FinishReason = response.FinishReason;
                stream.Finished = true;
            }
            if (!counted && stream.Tokens.Count >= _tokensBeforeStarted)
            {
                counted = true;
                if (Interlocked.Increment(ref _streamsStarted) == Streams.Count)
                {
                    _everyStreamStarted.TrySetResult();
                }
            }
        }
    }

    /// <summary>
    /// Per stream, the time from <paramref name="fault"/> to the end of its longest stall that ended after it: the
    /// first token computed once the pipeline recovered. (Tokens that arrive right after the fault come from steps
    /// already past the failed stage, so "the first token after the fault" alone would say nothing.)
    /// </summary>
    public List<TimeSpan?> RecoveredAfter(long fault) => Streams.Select(s =>
    {
        lock (s.Tokens)
        {
            var gaps = s.Tokens.Zip(s.Tokens.Skip(1)).Where(p => p.Second.Timestamp > fault).ToList();
            return gaps.Count == 0
                ? (TimeSpan?)null
                : Stopwatch.GetElapsedTime(fault, gaps.MaxBy(p => p.Second.Timestamp - p.First.Timestamp).Second.Timestamp);
        }
    }).ToList();

    /// <summary>The longest wait between two consecutive tokens of any stream: the stall a client saw.</summary>
    public TimeSpan LargestInterTokenGap() => Streams.Select(s =>
    {
        lock (s.Tokens)
        {
            return s.Tokens.Zip(s.Tokens.Skip(1), (a, b) => Stopwatch.GetElapsedTime(a.Timestamp, b.Timestamp)).DefaultIfEmpty().Max();
        }
    }).Max();
}
