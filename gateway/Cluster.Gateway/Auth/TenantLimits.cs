using System.Threading.RateLimiting;
using Cluster.Gateway.Admission;
using Grpc.Core;

namespace Cluster.Gateway.Auth;

/// <summary>
/// One API key's limits: Generate streams open at once, and tokens per minute. Tokens are charged when a request is
/// admitted, as prompt + max_new_tokens (what it may cost; like Azure OpenAI's estimate), never refunded: a key can
/// never exceed its budget, and the charge is known before any compute is spent. The bucket holds a minute's tokens
/// and refills in full every minute. Refusals are RESOURCE_EXHAUSTED with a retry hint (<see cref="Overloaded"/>).
/// </summary>
public sealed class TenantLimits : IDisposable
{
    /// <summary>How long a client refused for too many open streams is told to wait: streams usually end within seconds.</summary>
    public static readonly TimeSpan StreamRetryAfter = TimeSpan.FromSeconds(1);

    private readonly string _tenant;
    private readonly int _maxStreams;
    private readonly int _tokensPerMinute;
    private readonly ConcurrencyLimiter? _streams;
    private readonly TokenBucketRateLimiter? _tokens;

    public TenantLimits(string tenant, int maxConcurrentStreams, int tokensPerMinute)
    {
        _tenant = tenant;
        _maxStreams = maxConcurrentStreams;
        _tokensPerMinute = tokensPerMinute;
        _streams = maxConcurrentStreams > 0
            ? new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = maxConcurrentStreams, QueueLimit = 0 })
            : null;
        _tokens = tokensPerMinute > 0
            ? new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = tokensPerMinute,
                TokensPerPeriod = tokensPerMinute,
                ReplenishmentPeriod = TimeSpan.FromMinutes(1),
                QueueLimit = 0,
                AutoReplenishment = true,
            })
            : null;
    }

    public static TenantLimits Unlimited(string tenant) => new(tenant, 0, 0);

    /// <summary>Holds one stream slot until disposed: dispose it however the stream ends (finish, error, cancel).</summary>
    /// <exception cref="RpcException">RESOURCE_EXHAUSTED with a retry hint when the key's streams are all open.</exception>
    public IDisposable OpenStream()
    {
        if (_streams is null)
        {
            return NoLease.Instance;
        }
        var lease = _streams.AttemptAcquire();
        if (!lease.IsAcquired)
        {
            lease.Dispose();
            throw Overloaded.Exception(
                $"API key '{_tenant}' already has {_maxStreams} Generate streams open, its limit (MaxConcurrentStreams); retry when one ends.",
                StreamRetryAfter);
        }
        return lease;
    }

    /// <summary>Charges a request's tokens (prompt + max_new_tokens) to this minute's budget.</summary>
    /// <exception cref="RpcException">
    /// RESOURCE_EXHAUSTED: with a retry hint when the budget refills in time; without one when the request alone
    /// exceeds a whole minute's budget (it can never pass as it is).
    /// </exception>
    public void ChargeTokens(int tokens)
    {
        if (_tokens is null || tokens <= 0)
        {
            return;
        }
        if (tokens > _tokensPerMinute)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted,
                $"The request may cost {tokens} tokens (prompt + max_new_tokens); API key '{_tenant}' may spend at most {_tokensPerMinute} per minute (TokensPerMinute). Lower max_new_tokens or the prompt."));
        }
        using var lease = _tokens.AttemptAcquire(tokens);
        if (!lease.IsAcquired)
        {
            var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromMinutes(1);
            throw Overloaded.Exception(
                $"API key '{_tenant}' has spent its {_tokensPerMinute} tokens for this minute (TokensPerMinute); the request may cost {tokens} (prompt + max_new_tokens).",
                retryAfter);
        }
    }

    public void Dispose()
    {
        _streams?.Dispose();
        _tokens?.Dispose();
    }

    private sealed class NoLease : IDisposable
    {
        public static readonly NoLease Instance = new();

        public void Dispose()
        {
        }
    }
}
