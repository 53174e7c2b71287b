using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.Auth;

/// <summary>
/// The configured API keys, each with its tenant. Keys are kept only as SHA-256 digests and compared in constant
/// time against every entry (no early exit), so neither the response time nor a memory dump tells a key's content.
/// </summary>
public sealed class ApiKeyRegistry : IDisposable
{
    private readonly List<(byte[] Digest, Tenant Tenant)> _keys;

    public ApiKeyRegistry(IOptions<AuthOptions> options)
    {
        var auth = options.Value;
        auth.Validate();
        _keys = [.. auth.Keys.Select(k => (Digest(k.Key), new Tenant(k.Name, new TenantLimits(k.Name, k.MaxConcurrentStreams, k.TokensPerMinute))))];
    }

    public bool Enabled => _keys.Count > 0;

    /// <summary>The tenant whose key was presented; null when none matches.</summary>
    public Tenant? Find(string presentedKey)
    {
        var presented = Digest(presentedKey);
        Tenant? found = null;
        foreach (var (digest, tenant) in _keys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, digest))
            {
                found = tenant;
            }
        }
        return found;
    }

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    public void Dispose()
    {
        foreach (var (_, tenant) in _keys)
        {
            tenant.Limits.Dispose();
        }
    }
}
