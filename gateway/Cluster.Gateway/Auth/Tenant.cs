using Grpc.Core;

namespace Cluster.Gateway.Auth;

/// <summary>
/// Who is calling: the name of the API key the call presented, and that key's limits. Set on the call's
/// <see cref="HttpContext"/> features by <see cref="ApiKeyAuthenticationHandler"/>; absent when auth is off.
/// </summary>
public sealed class Tenant(string name, TenantLimits limits)
{
    public string Name { get; } = name;

    public TenantLimits Limits { get; } = limits;

    /// <summary>The caller of a gRPC call, or null when no API keys are configured.</summary>
    public static Tenant? Of(ServerCallContext context) => context.GetHttpContext().Features.Get<Tenant>();
}
