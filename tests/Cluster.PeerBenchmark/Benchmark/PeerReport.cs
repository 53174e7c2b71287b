namespace Cluster.PeerBenchmark.Benchmark;

/// <summary>Everything one run measured; serialized as the --json output.</summary>
public sealed record PeerReport(
    string Checkpoint,
    string Machine,
    DateTimeOffset StartedAt,
    PeerBenchmarkOptions Options,
    double MemoryReadGigabytesPerSecond,
    long DecodeWeightCount,
    IReadOnlyList<RunnerResult> Runners,
    IReadOnlyList<TokenAgreement> Agreements,
    IReadOnlyList<RatioColumn> Ratios);

/// <summary>One row of runs (ours or llama.cpp): decode at each stream count, prefill, and its bandwidth floor.</summary>
public sealed record RunnerResult(string Name, double BytesPerWeight, IReadOnlyList<StreamResult> Decode, double PrefillTokensPerSecond, double FloorMillisecondsPerToken)
{
    /// <summary>Share of the bandwidth floor batch 1 reaches (1 = at the floor); null without a batch-1 run.</summary>
    public double? FloorShare => Decode.FirstOrDefault(d => d.Streams == 1) is { } one ? FloorMillisecondsPerToken / one.MillisecondsPerStep : null;
}

public sealed record StreamResult(int Streams, double TokensPerSecond, double MillisecondsPerStep);

/// <summary>How many greedy tokens of <see cref="Other"/> equal <see cref="Reference"/>'s; <see cref="Required"/> ones stop the run on any difference.</summary>
public sealed record TokenAgreement(string Reference, string Other, string What, int Sequences, int TokensEach, int EqualTokens, int IdenticalSequences, int FirstDifferenceStep, bool Required)
{
    public bool Identical => IdenticalSequences == Sequences;
}

/// <summary>
/// Ours ÷ a reference for every metric (higher is better for us): tokens per second, or share of the floor. The
/// reference is llama.cpp for an engine variant; the engine variant it runs, or llama.cpp, for a cluster variant.
/// </summary>
public sealed record RatioColumn(string Ours, string Reference, IReadOnlyDictionary<string, double> ByMetric);
