namespace Cluster.Gateway.Auth;

/// <summary>
/// <c>Gateway:Auth</c>: the API keys that may call the Generation service. Empty: the service is open to anyone who
/// reaches the port (a warning is logged at start). Settable from the environment, so a Kubernetes Secret can supply
/// it: <c>Gateway__Auth__Keys__0__Name=team-a</c>, <c>Gateway__Auth__Keys__0__Key=&lt;64 hex characters&gt;</c>.
/// </summary>
public sealed class AuthOptions
{
    /// <summary>Shorter keys are refused at start: 128 bits as hex, so a key cannot be guessed (<c>openssl rand -hex 32</c>).</summary>
    public const int MinKeyLength = 32;

    public List<ApiKeyOptions> Keys { get; set; } = [];

    public bool Enabled => Keys.Count > 0;

    /// <exception cref="ArgumentException">Naming the entry (by index and name, never by key) and what is wrong.</exception>
    public void Validate()
    {
        for (int i = 0; i < Keys.Count; i++)
        {
            var key = Keys[i];
            string where = $"Gateway:Auth:Keys:{i} ('{key.Name}')";
            if (string.IsNullOrWhiteSpace(key.Name))
            {
                throw new ArgumentException($"Gateway:Auth:Keys:{i} needs a Name (the tenant its sessions and limits belong to).");
            }
            if ((key.Key ?? "").Length < MinKeyLength)
            {
                throw new ArgumentException($"{where}: the key has {(key.Key ?? "").Length} characters; at least {MinKeyLength} are required (e.g. openssl rand -hex 32).");
            }
            if (key.MaxConcurrentStreams < 0 || key.TokensPerMinute < 0)
            {
                throw new ArgumentException($"{where}: MaxConcurrentStreams and TokensPerMinute must be >= 0 (0 = unlimited); got {key.MaxConcurrentStreams} and {key.TokensPerMinute}.");
            }
        }
        if (Keys.Select(k => k.Key).Distinct(StringComparer.Ordinal).Count() != Keys.Count)
        {
            throw new ArgumentException("Gateway:Auth:Keys: two entries have the same key.");
        }
    }
}

/// <summary>
/// One API key: the tenant it stands for and its limits (0 = unlimited). Several keys may name the same tenant: they
/// share its sessions (to rotate a key, add the new one under the same name, roll the gateways, remove the old one);
/// each key keeps its own limits.
/// </summary>
public sealed class ApiKeyOptions
{
    /// <summary>The tenant: owns the sessions this key creates; shown in errors and logs instead of the key.</summary>
    public string Name { get; set; } = "";

    /// <summary>The secret the client sends as <c>authorization: Bearer &lt;key&gt;</c>. Never logged.</summary>
    public string Key { get; set; } = "";

    /// <summary>Generate streams this key may have open at once.</summary>
    public int MaxConcurrentStreams { get; set; }

    /// <summary>Tokens (prompt + max_new_tokens, charged when a Generate is admitted) this key may spend per minute.</summary>
    public int TokensPerMinute { get; set; }
}
