using System.Security.Claims;
using System.Text.Encodings.Web;
using Grpc.Core;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Cluster.Gateway.Auth;

/// <summary>
/// <c>authorization: Bearer &lt;key&gt;</c> against <see cref="ApiKeyRegistry"/>. An ASP.NET Core authentication handler
/// rather than a gRPC interceptor so that a call without a valid key is refused before its request is read and
/// parsed: an anonymous client cannot make the gateway buffer or deserialize anything. A refusal is a gRPC status:
/// UNAUTHENTICATED "missing bearer token" or "invalid API key". On success the caller's <see cref="Tenant"/> is set
/// on the request's features for the service. Keys are never logged.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyRegistry keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string MissingToken = "missing bearer token";
    public const string InvalidKey = "invalid API key";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var presented = BearerToken(Request);
        if (presented is null)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        var tenant = keys.Find(presented);
        if (tenant is null)
        {
            return Task.FromResult(AuthenticateResult.Fail(InvalidKey));
        }
        Context.Features.Set(tenant);
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, tenant.Name)], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    /// <summary>A gRPC status, unless the endpoint names its own way to say it (<see cref="UnauthenticatedResponse"/>).</summary>
    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var message = BearerToken(Request) is null
            ? $"{MissingToken}: send the header 'authorization: Bearer <API key>'"
            : $"{InvalidKey}: the bearer token matches no key configured on this gateway";
        return Context.GetEndpoint()?.Metadata.GetMetadata<UnauthenticatedResponse>() is { } own
            ? own.Write(Response, message)
            : GrpcStatusResponse.WriteAsync(Response, StatusCode.Unauthenticated, message);
    }

    /// <summary>The token after "Bearer " (scheme case-insensitive, as HTTP auth schemes are); null when absent or empty.</summary>
    private static string? BearerToken(HttpRequest request)
    {
        const string prefix = "Bearer ";
        string header = request.Headers.Authorization.ToString();
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        string token = header[prefix.Length..].Trim();
        return token.Length == 0 ? null : token;
    }
}
