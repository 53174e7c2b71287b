using Cluster.Gateway.Tests.EndToEnd;
using Cluster.Testing;
using Grpc.Core;
using PuppeteerSharp;

namespace Cluster.Gateway.Tests.Web;

/// <summary>
/// One cluster (2 silos, 2 stages, API keys on) and one headless Chromium for the inspection page's tests; each test
/// opens its own page (<see cref="OpenInspectedAsync"/>) on the gateway's HTTP/1.1 port, as a user would.
/// </summary>
public sealed class InspectPageFixture : IAsyncLifetime
{
    public static readonly string Key = new('p', 64);

    private ClusterUnderTest? _cluster;
    private IBrowser? _browser;

    internal ClusterUnderTest Cluster => _cluster ?? throw new InvalidOperationException("The fixture has not started.");

    internal Metadata Headers => ClusterUnderTest.Bearer(Key)!;

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Auth:Keys:0:Name"] = "page",
            ["Gateway:Auth:Keys:0:Key"] = Key,
        };
        if (Environment.GetEnvironmentVariable("INSIDE_SCREENSHOTS") is { Length: > 0 })
        {
            // Screenshots for docs/INSIDE.md show the default model (trained, so its tokens and predictions mean
            // something), on the same tests: every check compares the page with the gRPC API, whatever the model.
            settings["Cluster:Models:0:Path"] = RepositoryRoot.PathOf("models", "default");
        }
        _cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2, metricsPort: true, apiKey: Key, settings: settings);
        _browser = await Chromium.LaunchAsync();
    }

    /// <summary>
    /// A new page at /inspect/ that got the API key typed in, the prompt entered and Inspect pressed, once every panel
    /// says it is drawn (data-state="ready"), the sampling playground included.
    /// </summary>
    internal async Task<InspectPageSession> OpenInspectedAsync(string prompt)
    {
        // A context of its own per page: its own cache and localStorage (the stored key), as a fresh visitor.
        var context = await _browser!.CreateBrowserContextAsync();
        var page = await context.NewPageAsync();
        var session = new InspectPageSession(context, page);
        await page.SetViewportAsync(new ViewPortOptions { Width = 1200, Height = 900 });
        var response = await page.GoToAsync(Cluster.MetricsAddress + "/inspect/", WaitUntilNavigation.Load);
        Assert.True(response.Ok, $"GET /inspect/: HTTP {(int)response.Status}");
        await page.TypeAsync("#api-key", Key);
        await page.Keyboard.PressAsync("Tab"); // the key is stored and the models listed on change
        await session.WaitForAsync("#model[data-state='ready']", "the model list");
        await page.FocusAsync("#prompt");
        await page.Keyboard.SendCharacterAsync(prompt); // as an input method inserts text: Hangul and emoji whole
        await page.ClickAsync("#run");
        foreach (var panel in new[] { "tokenization", "embedding", "positions", "attention", "logit-lens" })
        {
            await session.WaitForAsync($"#{panel}[data-state='ready']", $"the {panel} panel");
        }
        await session.WaitForAsync("#sampling[data-state='ready']", "the sampling playground");
        return session;
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.CloseAsync();
            _browser.Dispose();
        }
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

/// <summary>A page under test with what it logged, so a failed wait can say what the page said.</summary>
internal sealed class InspectPageSession : IAsyncDisposable
{
    private readonly List<string> _errors = [];

    private readonly IBrowserContext _context;

    public InspectPageSession(IBrowserContext context, IPage page)
    {
        _context = context;
        Page = page;
        page.Console += (_, e) =>
        {
            if (e.Message.Type == ConsoleType.Error)
            {
                lock (_errors)
                {
                    _errors.Add(e.Message.Text);
                }
            }
        };
        page.PageError += (_, e) =>
        {
            lock (_errors)
            {
                _errors.Add(e.Message);
            }
        };
    }

    public IPage Page { get; }

    /// <summary>Waits for <paramref name="selector"/>; on timeout fails naming <paramref name="what"/>, the page's status line and its errors.</summary>
    public async Task WaitForAsync(string selector, string what, int timeoutMs = 60_000)
    {
        try
        {
            await Page.WaitForSelectorAsync(selector, new WaitForSelectorOptions { Timeout = timeoutMs });
        }
        catch (WaitTaskTimeoutException)
        {
            var status = await Page.EvaluateExpressionAsync<string>("document.querySelector('#status')?.textContent ?? ''");
            string errors;
            lock (_errors)
            {
                errors = string.Join(" | ", _errors);
            }
            Assert.Fail($"Timed out after {timeoutMs} ms waiting for {what} ({selector}); the page's status line: '{status}'; its errors: [{errors}]");
        }
    }

    public async ValueTask DisposeAsync() => await _context.CloseAsync();
}
