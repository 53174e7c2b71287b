using Cluster.Hosting;

namespace Cluster.Gateway;

/// <summary>How the gateway serves, section <c>Gateway</c>. What it serves is <c>Cluster:Models</c> (<see cref="ClusterModelsOptions"/>, shared with the silos).</summary>
public sealed class GatewayOptions
{
    /// <summary>The model a request without a model name gets; empty: the first of <c>Cluster:Models</c>.</summary>
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

    /// <summary>The gateway's own settings; each entry of <paramref name="models"/> was checked by <see cref="ClusterModelsOptionsValidator"/> at start.</summary>
    public void Validate(ClusterModelsOptions models)
    {
        if (SessionTurnRenewPeriod <= TimeSpan.Zero)
        {
            throw new ArgumentException($"Gateway:SessionTurnRenewPeriod must be positive; got {SessionTurnRenewPeriod}.");
        }
        if (models.Models.Count == 0)
        {
            throw new ArgumentException("Cluster:Models lists no model; the gateway has nothing to serve.");
        }
        if (!string.IsNullOrEmpty(DefaultModel) && models.Find(DefaultModel) is null)
        {
            throw new ArgumentException($"Gateway:DefaultModel '{DefaultModel}' is not in Cluster:Models ({string.Join(", ", models.Models.Select(m => m.Name))}).");
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
