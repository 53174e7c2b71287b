namespace Cluster.LoadTest;

/// <summary>What one load run sends: the levels of the sweep, how long each lasts, and the requests' shape.</summary>
/// <param name="Requests">Measured requests per level; null when only the duration bounds a level.</param>
/// <param name="DurationSeconds">Seconds after which a level sends no more requests (those in flight finish); null: no bound.</param>
/// <param name="PromptTexts">Prompts sent as text (from a prompts file) instead of token ids of PromptTokens' length.</param>
/// <param name="SharedPrefixes">Prompts start with one of these shared prefixes, then PromptTokens of their own; null: none.</param>
/// <param name="ConversationTurns">Requests come in conversations of this many turns, each resent in full (1: independent requests).</param>
/// <param name="SlowestRequests">How many of each level's slowest requests (by end-to-end latency) the report lists with their trace ids.</param>
public sealed record LoadSettings(
    IReadOnlyList<LoadLevel> Levels,
    int? Requests,
    double? DurationSeconds,
    LengthRange PromptTokens,
    LengthRange MaxNewTokens,
    int WarmupRequests,
    int VocabularySize,
    ulong Seed,
    IReadOnlyList<string>? PromptTexts = null,
    ServiceLevelObjectives? Objectives = null,
    int SlowestRequests = 5,
    SharedPrefixes? SharedPrefixes = null,
    int ConversationTurns = 1)
{
    public ServiceLevelObjectives Slo => Objectives ?? ServiceLevelObjectives.None;

    /// <summary>Requests at one level: at a concurrency, at least enough for every stream to run a few times; null when only the duration bounds it.</summary>
    public int? RequestsAt(LoadLevel level) => Requests is not { } requests ? null
        : level.Concurrency is { } concurrency ? Math.Max(requests, concurrency * 2) : requests;
}
