namespace Cluster.Gateway.Requests;

/// <summary>What a request for one model may ask for; every limit is named in the error that enforces it.</summary>
public sealed record ModelLimits(
    int ContextLength,
    int VocabularySize,
    int MaxNewTokensLimit,
    int DefaultMaxNewTokens = 256,
    int MaxStopSequences = 16,
    int MaxStopSequenceLength = 256,
    int MaxPromptCharacters = 1_000_000,
    int MaxStopTokenIds = 256,
    IReadOnlyList<int>? EosTokenIds = null);
