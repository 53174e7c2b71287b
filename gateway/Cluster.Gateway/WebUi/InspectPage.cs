using Microsoft.Extensions.FileProviders;

namespace Cluster.Gateway.WebUi;

/// <summary>
/// The inspection page, <c>/inspect/</c>: static files (plain HTML, CSS and JavaScript modules, no build step) embedded
/// in the gateway's assembly, calling the HTTP/JSON routes (<c>/api/v1/...</c>) of the same origin with the API key the
/// user types. Open without a key: the page holds no data, every call it makes is authenticated as any other. Browsers
/// speak HTTP/1.1 here, so it is reached on the gateway's HTTP/1.1 ports (8000 or 9090), not on the h2c gRPC port.
/// </summary>
internal static class InspectPage
{
    public const string Path = "/inspect";

    /// <summary>
    /// The page loads only its own files and talks only to its own origin: model text is never markup (the scripts set
    /// text, not HTML), and this policy keeps any injected markup from running scripts that could read the stored key.
    /// </summary>
    private const string ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

    public static WebApplication MapInspectPage(this WebApplication app)
    {
        var files = new ManifestEmbeddedFileProvider(typeof(InspectPage).Assembly, "WebUi/inspect");
        // /inspect redirects to /inspect/, which serves index.html.
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = Path });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            RequestPath = Path,
            OnPrepareResponse = context =>
            {
                context.Context.Response.Headers.ContentSecurityPolicy = ContentSecurityPolicy;
                context.Context.Response.Headers.XContentTypeOptions = "nosniff";
                // Revalidate (ETag) on every load: a gateway upgrade changes the page and the API together.
                context.Context.Response.Headers.CacheControl = "no-cache";
            },
        });
        app.MapGet("/", () => Results.Redirect(Path + "/"));
        return app;
    }
}
