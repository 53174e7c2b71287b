using System.Text.Json;
using Cluster.Contracts.Api;
using Cluster.Gateway.Tests.EndToEnd;
using PuppeteerSharp;

namespace Cluster.Gateway.Tests.Web;

/// <summary>
/// The inspection page (/inspect/) in a real browser against a real cluster: what it shows is what the gRPC API
/// answers for the same text (tokens, attention weights, the sampler's distribution, a seeded continuation). The
/// prompt mixes English, Korean and an emoji, whose bytes the tiny byte-level tokenizer splits inside characters.
/// With INSIDE_SCREENSHOTS set to a folder, the Generate test also saves PNGs of the page there (for docs/INSIDE.md).
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class InspectPageTests(InspectPageFixture fixture) : IClassFixture<InspectPageFixture>
{
    private const string Prompt = "In the beginning 안녕 👋 God";

    [Fact]
    public async Task TheTokensShownAreTokenizesPiecesAndIdsWithTheCountsOfWordsAndCharacters()
    {
        await using var session = await fixture.OpenInspectedAsync(Prompt);
        var shown = await session.Page.EvaluateJsonAsync("() => [...document.querySelectorAll('#tokens .token')].map(t => ({ id: Number(t.dataset.id), piece: t.dataset.piece }))");
        var tokenized = await fixture.Cluster.Client.TokenizeAsync(new TokenizeRequest { Text = Prompt }, fixture.Headers);

        var shownTokens = shown.EnumerateArray().Select(t => (Id: t.GetProperty("id").GetInt32(), Piece: t.GetProperty("piece").GetString())).ToList();
        var expected = tokenized.Tokens.Select(t => (t.Id, Piece: (string?)t.Piece)).ToList();
        Assert.True(shownTokens.SequenceEqual(expected),
            $"The page shows tokens [{Describe(shownTokens)}]; Tokenize answers [{Describe(expected)}]");

        var inspected = await fixture.Cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, Attention = false }, fixture.Headers);
        var counts = await session.Page.EvaluateJsonAsync("() => Object.fromEntries([...document.querySelectorAll('#tokenization [data-count]')].map(c => [c.dataset.count, Number(c.querySelector('b').textContent)]))");
        var view = inspected.Tokenization;
        var expectedCounts = new Dictionary<string, int> { ["tokens"] = view.Tokens.Count, ["words"] = view.Words.Count, ["characters"] = view.Characters.Count, ["UTF-8 bytes"] = (int)view.Utf8Bytes };
        var shownCounts = counts.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.True(expectedCounts.All(e => shownCounts.GetValueOrDefault(e.Key, -1) == e.Value),
            $"Counts shown {{{string.Join(", ", shownCounts.Select(c => $"{c.Key}: {c.Value}"))}}}; Inspect's {{{string.Join(", ", expectedCounts.Select(c => $"{c.Key}: {c.Value}"))}}}");
        var partial = await session.Page.EvaluateExpressionAsync<int>("document.querySelectorAll('#tokens .token.partial').length");
        Assert.True(partial > 0, "No token is marked as holding part of a character, yet the tiny tokenizer splits the Hangul and the emoji into byte tokens.");
    }

    [Fact]
    public async Task TheHeatmapOffersEveryLayerAndHeadAndItsCellsAreInspectsWeights()
    {
        await using var session = await fixture.OpenInspectedAsync(Prompt);
        var page = session.Page;
        var inspected = await fixture.Cluster.Client.InspectAsync(new InspectRequest { Text = Prompt }, fixture.Headers);
        var layers = await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#attention-layer option').length");
        var heads = await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#attention-head option').length");
        Assert.True(layers == inspected.Attention.Count && heads == inspected.Attention[0].Heads,
            $"The heatmap offers {layers} layers × {heads} heads; Inspect answers {inspected.Attention.Count} × {inspected.Attention[0].Heads}");

        const int layerIndex = 2, head = 1;
        await page.SelectAsync("#attention-layer", layerIndex.ToString());
        await page.SelectAsync("#attention-head", head.ToString());
        await session.WaitForAsync($"#attention[data-layer='{inspected.Attention[layerIndex].Layer}'][data-head='{head}']", $"the heatmap of layer {inspected.Attention[layerIndex].Layer}, head {head}");
        var cells = (await page.EvaluateJsonAsync("() => [...document.querySelectorAll('#attention td.cell')].map(c => [Number(c.dataset.row), Number(c.dataset.col), Number(c.dataset.weight)])"))
            .EnumerateArray().Select(c => (Row: c[0].GetInt32(), Col: c[1].GetInt32(), Weight: c[2].GetDouble())).ToList();

        var layer = inspected.Attention[layerIndex];
        Assert.True(cells.Count == layer.Rows * layer.Columns, $"The heatmap has {cells.Count} cells; layer {layer.Layer} has {layer.Rows} rows × {layer.Columns} columns");
        var wrong = cells
            .Select(c => (c.Row, c.Col, Shown: c.Weight, Expected: (double)layer.Weights[(int)((head * layer.Rows + (c.Row - layer.FirstRow)) * layer.Columns + c.Col)]))
            .Where(c => Math.Abs(c.Shown - c.Expected) > 1e-6).ToList();
        Assert.True(wrong.Count == 0,
            $"Layer {layer.Layer} head {head}: {wrong.Count} cells differ from Inspect, e.g. {string.Join("; ", wrong.Take(5).Select(c => $"({c.Row}, {c.Col}) shown {c.Shown}, Inspect {c.Expected}"))}");
        var title = await page.EvaluateExpressionAsync<string>("document.querySelector('#attention td.cell[data-row=\"1\"][data-col=\"0\"]').title");
        Assert.True(title.StartsWith("query 1 ", StringComparison.Ordinal) && title.Contains("→ key 0 ", StringComparison.Ordinal), $"The cell (1, 0)'s title: '{title}'; expected it to name query 1 and key 0 with their tokens");
    }

    [Fact]
    public async Task PositionsAreDrawnAsRotaryAndTheLensAtEveryPositionIsInspects()
    {
        await using var session = await fixture.OpenInspectedAsync(Prompt);
        var page = session.Page;
        var kind = await page.EvaluateExpressionAsync<string>("document.querySelector('#positions').dataset.kind");
        var charts = await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#positions svg.line-chart').length");
        var expectedCharts = (await fixture.Cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, Attention = false }, fixture.Headers)).Positions.Rotary.Distances[^1] > 256 ? 2 : 1;
        Assert.True(kind == "rotary" && charts == expectedCharts, $"positions panel: kind '{kind}', {charts} charts; the Llama is rotary, drawn to 256 tokens and, past that, to its context length ({expectedCharts} charts)");

        var inspected = await fixture.Cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, TopN = 8, LensAllPositions = true, Attention = false }, fixture.Headers);
        var shown = (await page.EvaluateJsonAsync("() => [...document.querySelectorAll('.lens-positions tbody tr')].map(r => [...r.querySelectorAll('td.lens-cell')].map(c => Number(c.dataset.tokenId)))"))
            .EnumerateArray().Select(r => r.EnumerateArray().Select(c => c.GetInt32()).ToList()).ToList();
        var expected = inspected.LogitLens.Select(l => l.Positions.Select(p => p.Top[0].Id).ToList()).ToList();
        Assert.True(shown.Count == expected.Count && shown.Zip(expected).All(p => p.First.SequenceEqual(p.Second)),
            $"the layer × token table shows [{string.Join(" | ", shown.Select(r => string.Join(",", r)))}]; Inspect's top tokens [{string.Join(" | ", expected.Select(r => string.Join(",", r)))}]");
    }

    [Fact]
    public async Task MovingTheTemperatureSliderRedrawsTheDistributionAsInspectComputesItAndContinuationsAreSampled()
    {
        await using var session = await fixture.OpenInspectedAsync(Prompt);
        var page = session.Page;
        await session.WaitForAsync("#sampling[data-shown-temperature='1']", "the sampler's steps at temperature 1");
        var atOne = await ShownAfterTemperatureAsync(page);

        await page.FocusAsync("#temperature");
        for (var i = 0; i < 10; i++)
        {
            await page.Keyboard.PressAsync("ArrowLeft"); // 10 steps of 0.05: from 1 to 0.5, as a keyboard user moves it
        }
        await session.WaitForAsync("#sampling[data-state='ready'][data-shown-temperature='0.5']", "the sampler's steps redrawn at temperature 0.5");
        var atHalf = await ShownAfterTemperatureAsync(page);

        var expected = (await fixture.Cluster.Client.InspectAsync(new InspectRequest
        {
            Text = Prompt, TopN = 20, Attention = false, Sampling = new SamplingParameters { Temperature = 0.5f, TopK = 0, TopP = 1 },
        }, fixture.Headers)).Sampler.AfterTemperature.Take(atHalf.Count).Select(t => (t.Id, Probability: (double)t.Probability)).ToList();
        Assert.True(atHalf.Count > 0 && atHalf.Select(t => t.Id).SequenceEqual(expected.Select(t => t.Id)) && atHalf.Zip(expected).All(p => Math.Abs(p.First.Probability - p.Second.Probability) < 1e-6),
            $"After temperature 0.5 the page shows [{Describe(atHalf)}]; Inspect answers [{Describe(expected)}]");
        Assert.True(Math.Abs(atHalf[0].Probability - atOne[0].Probability) > 1e-4,
            $"The shown distribution did not change with the temperature: at 1 [{Describe(atOne)}], at 0.5 [{Describe(atHalf)}]");

        await page.ClickAsync("#sample");
        await session.WaitForAsync("#continuations[data-state='done']", "the sampled continuations");
        var continuations = await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#continuations li').length");
        Assert.True(continuations == 4, $"{continuations} continuations listed; expected 4");
    }

    [Fact]
    public async Task TheGeneratePanelStreamsGrpcsTokensForTheSameSeed()
    {
        await using var session = await fixture.OpenInspectedAsync(Prompt);
        var page = session.Page;
        await FillAsync(page, "#generate-seed", "7");
        await FillAsync(page, "#generate-temperature", "0.9");
        await FillAsync(page, "#generate-max-tokens", "8");
        await page.ClickAsync("#generate-run");
        await session.WaitForAsync("#generate[data-state='done']", "the streamed continuation");
        var shown = (await page.EvaluateJsonAsync("() => [...document.querySelectorAll('#generated .gen-token')].flatMap(t => t.dataset.tokenIds.split(' ').map(Number))"))
            .EnumerateArray().Select(t => t.GetInt32()).ToList();

        var (tokens, _) = await ShardedGenerationTests.GenerateAsync(fixture.Cluster, new GenerateRequest
        {
            Text = Prompt,
            Logprobs = true,
            TopLogprobs = 5,
            Sampling = new SamplingParameters { Seed = 7, Temperature = 0.9f, MaxNewTokens = 8 },
        }, InspectPageFixture.Key);
        Assert.True(shown.SequenceEqual(tokens), $"The page streamed tokens [{string.Join(", ", shown)}]; gRPC Generate with seed 7 gives [{string.Join(", ", tokens)}]");
        var alternatives = await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#generated .gen-token .alternative').length");
        Assert.True(alternatives >= shown.Count, $"{alternatives} alternatives shown for {shown.Count} tokens; each token lists its top log-probabilities");

        await SaveScreenshotsAsync(session);
    }

    /// <summary>When INSIDE_SCREENSHOTS names a folder (the fixture then serves the default model): the whole page and each panel.</summary>
    private static async Task SaveScreenshotsAsync(InspectPageSession session)
    {
        if (Environment.GetEnvironmentVariable("INSIDE_SCREENSHOTS") is not { Length: > 0 } folder)
        {
            return;
        }
        Directory.CreateDirectory(folder);
        var page = session.Page;
        await page.ClickAsync("#sample");
        await session.WaitForAsync("#continuations[data-state='done']", "the sampled continuations");
        await page.ScreenshotAsync(Path.Combine(folder, "inspect-page.png"), new ScreenshotOptions { FullPage = true });
        foreach (var (selector, file) in new[]
        {
            ("#tokenization", "inspect-tokens.png"), ("#embedding", "inspect-embedding.png"), ("#positions", "inspect-positions.png"),
            ("#attention", "inspect-attention.png"), ("#logit-lens", "inspect-lens.png"), ("#sampling", "inspect-sampling.png"), ("#generate", "inspect-generate.png"),
        })
        {
            var element = await page.QuerySelectorAsync(selector);
            await element.ScreenshotAsync(Path.Combine(folder, file));
        }
    }

    private static async Task<List<(int Id, double Probability)>> ShownAfterTemperatureAsync(IPage page) =>
        (await page.EvaluateJsonAsync("() => [...document.querySelectorAll('#after-temperature .bar-row')].map(r => [Number(r.dataset.tokenId), Number(r.dataset.probability)])"))
            .EnumerateArray().Select(r => (r[0].GetInt32(), r[1].GetDouble())).ToList();

    private static async Task FillAsync(IPage page, string selector, string value)
    {
        await page.EvaluateFunctionAsync("s => { document.querySelector(s).value = ''; }", selector);
        await page.TypeAsync(selector, value);
    }

    private static string Describe(IEnumerable<(int Id, string? Piece)> tokens) => string.Join(", ", tokens.Select(t => $"{t.Id}:{JsonSerializer.Serialize(t.Piece)}"));

    private static string Describe(IEnumerable<(int Id, double Probability)> tokens) => string.Join(", ", tokens.Select(t => $"{t.Id}:{t.Probability:F5}"));
}
