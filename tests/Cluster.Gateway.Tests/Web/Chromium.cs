using System.Text.Json;
using PuppeteerSharp;

namespace Cluster.Gateway.Tests.Web;

/// <summary>
/// A headless Chromium for page tests: Debian's package by its path (nothing can be downloaded here), driven over the
/// DevTools protocol by PuppeteerSharp. Missing, it fails the test: a page test that skips would pass unseen.
/// </summary>
internal static class Chromium
{
    /// <summary>CHROMIUM_PATH when set, else Debian's /usr/bin/chromium.</summary>
    public static string ExecutablePath => Environment.GetEnvironmentVariable("CHROMIUM_PATH") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    public static async Task<IBrowser> LaunchAsync()
    {
        var path = ExecutablePath;
        if (!File.Exists(path))
        {
            Assert.Fail($"Chromium not found at {path}: install Debian's package (apt-get install chromium; .ci/run installs it when absent) or set CHROMIUM_PATH.");
        }
        return await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = path,
            Headless = true,
            // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            Timeout = 60_000,
        });
    }

    /// <summary>Runs <paramref name="script"/> (a function returning a JSON-serialisable value) and parses its result.</summary>
    public static async Task<JsonElement> EvaluateJsonAsync(this IPage page, string script, params object[] arguments)
    {
        var json = await page.EvaluateFunctionAsync<string>($"(...args) => JSON.stringify(({script})(...args))", arguments);
        return JsonDocument.Parse(json).RootElement.Clone();
    }
}
