using Microsoft.AspNetCore.Authentication;

namespace Cluster.Gateway.Auth;

/// <summary>API keys on the gateway (<c>Gateway:Auth</c>): registered always, enforced only when keys are configured.</summary>
public static class AuthServiceExtensions
{
    public static IServiceCollection AddApiKeyAuth(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AuthOptions>().Bind(configuration.GetSection("Gateway:Auth"));
        services.AddSingleton<ApiKeyRegistry>();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, configureOptions: null);
        services.AddAuthorization();
        return services;
    }

    /// <summary>
    /// Adds the authentication and authorization middleware, and returns whether keys are configured (the caller
    /// then requires them on its endpoints). Reads the registry now, so a bad <c>Gateway:Auth</c> fails at start.
    /// </summary>
    public static bool UseApiKeyAuth(this WebApplication app)
    {
        var keys = app.Services.GetRequiredService<ApiKeyRegistry>();
        app.UseAuthentication();
        app.UseAuthorization();
        if (!keys.Enabled)
        {
            app.Logger.LogWarning("Gateway:Auth:Keys is empty: the Generation service is open to anyone who reaches this port. Configure API keys for any deployment reachable from outside.");
        }
        return keys.Enabled;
    }
}
