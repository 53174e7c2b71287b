namespace Cluster.LoadTest;

/// <summary>What one load run sends: how many requests at which concurrencies, and their shape.</summary>
public sealed record LoadSettings(
    IReadOnlyList<int> Concurrencies,
    int Requests,
    int PromptTokens,
    int MaxNewTokens,
    int WarmupRequests,
    int VocabularySize,
    ulong Seed)
{
    /// <summary>Requests at one concurrency: at least enough for every stream to run a few times.</summary>
    public int RequestsAt(int concurrency) => Math.Max(Requests, concurrency * 2);
}
