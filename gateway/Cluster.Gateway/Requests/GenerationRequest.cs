namespace Cluster.Gateway.Requests;

/// <summary>
/// A validated Generate call, ready for the scheduler: the prompt as token ids, sampling settings with every default
/// resolved (a seed is always set, drawn by the gateway when the client sent none, so replays after a failover
/// sample the same tokens), and the limits already checked.
/// </summary>
public sealed record GenerationRequest(
    string RequestId,
    string Model,
    IReadOnlyList<int> PromptTokens,
    string? SessionId,
    ResolvedSampling Sampling,
    IReadOnlyList<string> StopSequences,
    IReadOnlyList<int> StopTokenIds,
    bool IgnoreEos,
    bool Logprobs,
    int TopLogprobs);

/// <summary>Sampling settings after defaults: temperature 0 means greedy.</summary>
public sealed record ResolvedSampling(
    float Temperature,
    int TopK,
    float TopP,
    float RepetitionPenalty,
    ulong Seed,
    int MaxNewTokens);
