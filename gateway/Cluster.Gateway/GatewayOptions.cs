using Cluster.Contracts.Stages;

namespace Cluster.Gateway;

/// <summary>What the gateway serves. <see cref="Models"/> binds <c>Cluster:Models</c> (shared with the silos); the rest <c>Gateway</c>.</summary>
public sealed class GatewayOptions
{
    public List<ModelDeployment> Models { get; set; } = [];

    /// <summary>The model a request without a model name gets; empty: the first of <see cref="Models"/>.</summary>
    public string DefaultModel { get; set; } = "";

    /// <summary>Upper bound on max_new_tokens (also bounded by each model's context length).</summary>
    public int MaxNewTokensLimit { get; set; } = 4096;

    /// <summary>
    /// <c>Gateway:MaxRequestBytes</c>, the gRPC receive limit: room for a prompt at the character limit
    /// (<see cref="Requests.ModelLimits.MaxPromptCharacters"/>, 1,000,000) at up to 3 UTF-8 bytes each, and no more.
    /// </summary>
    public const int DefaultMaxRequestBytes = 4 * 1024 * 1024;

    public int MaxRequestBytes { get; set; } = DefaultMaxRequestBytes;

    /// <summary>
    /// How often a running session turn is renewed on its session grain, so that a turn whose gateway died stops
    /// blocking the session after the silos' <c>Cluster:Sessions:TurnTimeout</c> (1 min), which must be well above this.
    /// </summary>
    public TimeSpan SessionTurnRenewPeriod { get; set; } = TimeSpan.FromSeconds(15);

    public void Validate()
    {
        if (SessionTurnRenewPeriod <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Gateway:SessionTurnRenewPeriod must be positive; got {SessionTurnRenewPeriod}.");
        }
        if (Models.Count == 0)
        {
            throw new ArgumentException("Cluster:Models lists no model; the gateway has nothing to serve.");
        }
        foreach (var model in Models)
        {
            if (string.IsNullOrWhiteSpace(model.Name) || model.Name.Contains('/') || string.IsNullOrWhiteSpace(model.Path) || model.Stages < 1 || model.Replicas < 1)
            {
                throw new ArgumentException($"Cluster:Models entry '{model.Name}' needs a Name without '/', a Path, Stages >= 1 and Replicas >= 1 (got Path '{model.Path}', Stages {model.Stages}, Replicas {model.Replicas}).");
            }
        }
        if (!string.IsNullOrEmpty(DefaultModel) && Models.All(m => m.Name != DefaultModel))
        {
            throw new ArgumentException($"Gateway:DefaultModel '{DefaultModel}' is not in Cluster:Models ({string.Join(", ", Models.Select(m => m.Name))}).");
        }
        if (MaxRequestBytes < 1024)
        {
            throw new ArgumentException($"Gateway:MaxRequestBytes must be >= 1024; got {MaxRequestBytes}.");
        }
        if (MaxNewTokensLimit < 1)
        {
            throw new ArgumentException($"Gateway:MaxNewTokensLimit must be >= 1; got {MaxNewTokensLimit}.");
        }
    }
}
