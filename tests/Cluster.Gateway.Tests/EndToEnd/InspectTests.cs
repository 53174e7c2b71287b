using Cluster.Contracts.Api;
using Cluster.Testing;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// Inspect through the stage grains: the logit lens has one entry per layer boundary, each naming the stage and silo
/// that computed it; the last one is the model's own next-token distribution (Generate's top log-probabilities);
/// layer 0 and each token's embedding read the checkpoint's embedding rows; the numbers do not depend on how the
/// layers are split over silos; and the sampler view is what Generate draws from.
/// </summary>
public sealed class InspectTests
{
    private const string Prompt = "In the beginning God";

    [Fact]
    public async Task TheLastLayerIsGeneratesDistributionAndEveryLayerNamesItsStageAndSilo()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        var inspected = await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, TopN = 3 });

        var layers = inspected.LogitLens;
        Assert.Equal(Enumerable.Range(0, 5).Select(l => (uint)l), layers.Select(l => l.Layer)); // the tiny model: 4 layers
        var statuses = await cluster.StatusesAsync();
        Assert.All(layers, l => Assert.Equal(statuses[(int)l.Stage].Silo, l.Silo));
        Assert.Equal([0u, 0u, 0u, 1u, 1u], layers.Select(l => l.Stage)); // 2 stages: layers [0, 2) and [2, 4)

        var (_, last) = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest
        {
            Text = Prompt,
            TopLogprobs = 3,
            Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 1, IgnoreEos = true },
        });
        var generated = last.Logprobs[0].Top;
        var next = inspected.NextToken;
        Assert.True(next.Select(t => t.Id).SequenceEqual(generated.Select(t => t.TokenId)) && next.Zip(generated).All(p => Math.Abs(p.First.Logprob - p.Second.Logprob) < 1e-4),
            $"Inspect's next token [{string.Join(", ", next.Select(t => $"{t.Id}:{t.Logprob:F5}"))}], Generate's top [{string.Join(", ", generated.Select(t => $"{t.TokenId}:{t.Logprob:F5}"))}]");
        Assert.Equal(next, layers[^1].Top);
        Assert.All(layers, l => Assert.True(l.Top.Count == 3 && l.Top.Zip(l.Top.Skip(1)).All(p => p.First.Logprob >= p.Second.Logprob), $"layer {l.Layer}: top not 3 in descending order"));

        // Layer 0 is the last token's embedding row, read back from the checkpoint's own tensors.
        using var copy = TempDirectory.Create("inspect-reference");
        var embedding = TinyCheckpoint.Write(copy.Path, TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe }).Single(t => t.Name == "model.embed_tokens.weight");
        var width = (int)embedding.Shape[1];
        var lastId = inspected.Tokenization.Tokens[^1].Id;
        var norm = Math.Sqrt(Enumerable.Range(0, width).Sum(j => (double)embedding.Values[lastId * width + j] * embedding.Values[lastId * width + j]));
        Assert.True(Math.Abs(norm - layers[0].HiddenNorm) < 1e-4, $"layer 0's norm {layers[0].HiddenNorm}; the embedding row of token {lastId} has norm {norm}");

        // Each token's embedding: its row's length, and itself as its nearest neighbour at similarity 1.
        Assert.Equal(inspected.Tokenization.Tokens.Select(t => t.Id), inspected.Embedding.Select(e => e.Id));
        foreach (var token in inspected.Embedding)
        {
            var rowNorm = Math.Sqrt(Enumerable.Range(0, width).Sum(j => (double)embedding.Values[token.Id * width + j] * embedding.Values[token.Id * width + j]));
            Assert.True(token.Nearest.Count == 3 && token.Nearest[0].Id == token.Id && Math.Abs(token.Nearest[0].Similarity - 1) < 1e-5 && Math.Abs(token.Norm - rowNorm) < 1e-4,
                $"token {token.Id}: norm {token.Norm} (row {rowNorm}), nearest [{string.Join(", ", token.Nearest.Select(n => $"{n.Id}:{n.Similarity:F4}"))}]");
            Assert.True(token.Nearest.Zip(token.Nearest.Skip(1)).All(p => p.First.Similarity >= p.Second.Similarity), $"token {token.Id}: neighbours not most similar first");
        }
    }

    [Fact]
    public async Task OneTwoAndThreeStagesGiveTheSameLens()
    {
        var byStages = new List<InspectResponse>();
        foreach (var stages in new[] { 1, 2, 3 })
        {
            await using var cluster = await ClusterUnderTest.StartAsync(silos: stages, stages: stages);
            byStages.Add(await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, TopN = 5 }));
        }
        for (var s = 1; s < byStages.Count; s++)
        {
            foreach (var (one, split) in byStages[0].Attention.Zip(byStages[s].Attention))
            {
                var worst = one.Weights.Zip(split.Weights).Max(p => Math.Abs(p.First - p.Second));
                Assert.True(one.Layer == split.Layer && one.Weights.Count == split.Weights.Count && worst < 1e-5,
                    $"attention of layer {one.Layer}, 1 stage against {s + 1}: largest difference {worst}");
            }
            foreach (var (one, split) in byStages[0].LogitLens.Zip(byStages[s].LogitLens))
            {
                Assert.True(Math.Abs(one.HiddenNorm - split.HiddenNorm) < 1e-4 && one.Top.Select(t => t.Id).SequenceEqual(split.Top.Select(t => t.Id))
                    && one.Top.Zip(split.Top).All(p => Math.Abs(p.First.Logprob - p.Second.Logprob) < 1e-4),
                    $"layer {one.Layer}, 1 stage against {s + 1}: norm {one.HiddenNorm} / {split.HiddenNorm}, top [{string.Join(", ", one.Top.Select(t => t.Id))}] / [{string.Join(", ", split.Top.Select(t => t.Id))}]");
            }
        }
    }

    [Fact]
    public async Task AttentionRowsSumToOneAttendOnlyBackwardsAndComeFromTheStageOwningTheLayer()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        var inspected = await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt });
        var tokens = inspected.Tokenization.Tokens.Count;
        var statuses = await cluster.StatusesAsync();

        Assert.Equal([1u, 2u, 3u, 4u], inspected.Attention.Select(a => a.Layer));
        foreach (var layer in inspected.Attention)
        {
            Assert.True(layer.Heads == 4 && layer.Rows == tokens && layer.Columns == tokens && layer.FirstRow == 0 && layer.Weights.Count == 4 * tokens * tokens,
                $"layer {layer.Layer}: {layer.Heads} heads × {layer.Rows} rows (from {layer.FirstRow}) × {layer.Columns} columns, {layer.Weights.Count} weights; expected 4 × {tokens} × {tokens}");
            Assert.Equal(layer.Layer <= 2 ? 0u : 1u, layer.Stage);
            Assert.Equal(statuses[(int)layer.Stage].Silo, layer.Silo);
            for (var head = 0; head < layer.Heads; head++)
            {
                for (var row = 0; row < tokens; row++)
                {
                    var weights = layer.Weights.Skip((head * tokens + row) * tokens).Take(tokens).ToArray();
                    Assert.True(Math.Abs(weights.Sum() - 1) < 1e-5 && weights.Skip(row + 1).All(w => w == 0),
                        $"layer {layer.Layer} head {head} row {row}: sums to {weights.Sum()}, weights after the row [{string.Join(", ", weights.Skip(row + 1))}]");
                }
            }
        }
        Assert.Equal(1f, inspected.Attention[0].Weights[0]); // the first token can only attend to itself

        var longText = string.Join(" ", Enumerable.Repeat("and", 80));
        var longView = await cluster.Client.InspectAsync(new InspectRequest { Text = longText });
        var longTokens = (uint)longView.Tokenization.Tokens.Count;
        Assert.True(longTokens > 64 && longView.Attention.All(a => a.Rows == 1 && a.FirstRow == longTokens - 1 && a.Columns == longTokens),
            $"{longTokens} tokens: rows [{string.Join(", ", longView.Attention.Select(a => $"{a.Rows} from {a.FirstRow}"))}]; beyond 64 tokens only the last row is returned");
        var none = await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, Attention = false });
        Assert.Empty(none.Attention);
    }

    [Fact]
    public async Task RotaryPositionsShowTheConfiguredFrequenciesAndACurveThatStartsAtOne()
    {
        var options = TinyModelOptions.Llama with { RopeTheta = 5000 };
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2, model: options);
        var rotary = (await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, Attention = false })).Positions.Rotary;

        var headDim = options.HiddenSize / options.HeadCount;
        var expected = Enumerable.Range(0, headDim / 2).Select(j => 1 / Math.Pow(options.RopeTheta, 2.0 * j / headDim)).ToArray();
        Assert.NotNull(rotary);
        Assert.True(rotary.Base == options.RopeTheta && rotary.HeadDim == headDim && rotary.Positions == options.MaxPositionEmbeddings
            && rotary.Frequencies.Count == expected.Length && rotary.Frequencies.Zip(expected).All(p => Math.Abs(p.First - p.Second) < 1e-6),
            $"rotary: base {rotary.Base}, head_dim {rotary.HeadDim}, positions {rotary.Positions}, frequencies [{string.Join(", ", rotary.Frequencies)}]; expected base {options.RopeTheta}, [{string.Join(", ", expected)}]");
        Assert.True(rotary.Distances.Count == rotary.Similarity.Count && rotary.Distances[0] == 0 && Math.Abs(rotary.Similarity[0] - 1) < 1e-6
            && rotary.Distances[^1] == options.MaxPositionEmbeddings - 1,
            $"curve: {rotary.Distances.Count} distances to {rotary.Distances[^1]}, {rotary.Similarity.Count} values, similarity at 0 {rotary.Similarity[0]}");
        var atOne = expected.Average(f => Math.Cos(f));
        Assert.True(Math.Abs(rotary.Similarity[1] - atOne) < 1e-5, $"similarity at distance 1: {rotary.Similarity[1]}, mean cos(frequency) {atOne}");
    }

    [Fact]
    public async Task LearnedPositionsShowTheMeanSimilarityOfTheCheckpointsPositionRows()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2, model: TinyModelOptions.Gpt2);
        var learned = (await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, Attention = false })).Positions.Learned;

        using var copy = TempDirectory.Create("inspect-positions");
        var options = TinyModelOptions.Gpt2 with { Tokenizer = TinyTokenizer.Gpt2Bpe };
        var table = TinyCheckpoint.Write(copy.Path, options).Single(t => t.Name.EndsWith("wpe.weight", StringComparison.Ordinal));
        var width = (int)table.Shape[1];
        double Cosine(int a, int b)
        {
            double dot = 0, na = 0, nb = 0;
            for (var j = 0; j < width; j++)
            {
                var (x, y) = (table.Values[a * width + j], table.Values[b * width + j]);
                (dot, na, nb) = (dot + x * y, na + x * x, nb + y * y);
            }
            return dot / Math.Sqrt(na * nb);
        }
        Assert.NotNull(learned);
        Assert.True(learned.Positions == options.MaxPositionEmbeddings && learned.Distances[^1] == options.MaxPositionEmbeddings - 1,
            $"learned: positions {learned.Positions}, last distance {learned.Distances.LastOrDefault()}; expected {options.MaxPositionEmbeddings}");
        foreach (var d in new[] { 0, 1, 10, 200 })
        {
            var expected = Enumerable.Range(0, options.MaxPositionEmbeddings - d).Average(i => Cosine(i, i + d));
            var i = learned.Distances.IndexOf((uint)d);
            Assert.True(i >= 0 && Math.Abs(learned.Similarity[i] - expected) < 1e-4, $"distance {d}: curve {(i >= 0 ? learned.Similarity[i] : float.NaN)}, rows' mean cosine {expected}");
        }
    }

    [Fact]
    public async Task TheSamplerViewIsWhatGenerateDrawsFrom()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 2);
        var sampling = new SamplingParameters { Temperature = 1.3f, TopK = 40, TopP = 0.9f, MaxNewTokens = 1, IgnoreEos = true };
        var view = (await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, Sampling = sampling })).Sampler;
        Assert.True(!view.Greedy && view.KeptAfterTopK == 40 && view.KeptAfterTopP <= 40 && view.DrawnFrom.Count == view.KeptAfterTopP,
            $"greedy {view.Greedy}, kept {view.Candidates} → {view.KeptAfterMinP} → {view.KeptAfterTopK} → {view.KeptAfterTopP}, {view.DrawnFrom.Count} listed");
        var kept = view.DrawnFrom.Select(t => t.Id).ToHashSet();

        var drawn = await Task.WhenAll(Enumerable.Range(0, 40).Select(seed => ShardedGenerationTests.GenerateAsync(cluster,
            new GenerateRequest { Text = Prompt, Sampling = new SamplingParameters(sampling) { Seed = (ulong)seed } })));
        var outside = drawn.Select(d => d.Tokens[0]).Where(t => !kept.Contains(t)).ToList();
        Assert.True(outside.Count == 0, $"Generate drew [{string.Join(", ", outside)}], which the sampler view says cannot be drawn");

        var greedy = (await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, Sampling = new SamplingParameters { Temperature = 0 } })).Sampler;
        var next = (await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt })).NextToken[0];
        Assert.True(greedy.Greedy && greedy.DrawnFrom.Count == 1 && greedy.DrawnFrom[0].Id == next.Id, $"greedy view draws [{string.Join(", ", greedy.DrawnFrom.Select(t => t.Id))}]; the top next token is {next.Id}");

        var bad = await Assert.ThrowsAsync<RpcException>(() => cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, Sampling = new SamplingParameters { TopP = 1.5f } }).ResponseAsync);
        Assert.True(bad.StatusCode == StatusCode.InvalidArgument && bad.Status.Detail.Contains("sampling.top_p must be in (0, 1]"), $"{bad.StatusCode}: {bad.Status.Detail}");
    }

    [Fact]
    public async Task InspectBesideGenerateTrafficLeavesGeneratesTokensTheInspectedNumbersAndTheKvBudgetIntact()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        var requests = new[] { "And God said", "Let there be light", "In the beginning", "The earth was without form" }
            .SelectMany(text => new[]
            {
                new GenerateRequest { Text = text, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 24, IgnoreEos = true } },
                new GenerateRequest { Text = text, Sampling = new SamplingParameters { Temperature = 0.9f, TopK = 40, Seed = 11, MaxNewTokens = 24, IgnoreEos = true } },
            }).ToList();
        var alone = new List<List<int>>();
        foreach (var request in requests)
        {
            alone.Add((await ShardedGenerationTests.GenerateAsync(cluster, request)).Tokens);
        }
        var inspectRequest = new InspectRequest { Text = Prompt, TopN = 5 };
        var inspectedAlone = await cluster.Client.InspectAsync(inspectRequest);

        var generating = requests.Select(r => ShardedGenerationTests.GenerateAsync(cluster, r)).ToList();
        var inspecting = Enumerable.Range(0, 4).Select(_ => cluster.Client.InspectAsync(inspectRequest).ResponseAsync).ToList();
        var together = await Task.WhenAll(generating);
        var inspectedTogether = await Task.WhenAll(inspecting);

        for (var i = 0; i < requests.Count; i++)
        {
            Assert.True(alone[i].SequenceEqual(together[i].Tokens),
                $"request {i} (\"{requests[i].Text}\", temperature {requests[i].Sampling.Temperature}): alone [{string.Join(", ", alone[i])}], beside Inspect [{string.Join(", ", together[i].Tokens)}]");
        }
        foreach (var inspected in inspectedTogether)
        {
            var worst = inspected.Attention.SelectMany(a => a.Weights).Zip(inspectedAlone.Attention.SelectMany(a => a.Weights)).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(inspected.NextToken.Select(t => t.Id).SequenceEqual(inspectedAlone.NextToken.Select(t => t.Id)) && worst < 1e-5,
                $"Inspect beside Generate: next [{string.Join(", ", inspected.NextToken.Select(t => t.Id))}], alone [{string.Join(", ", inspectedAlone.NextToken.Select(t => t.Id))}]; attention differs by up to {worst}");
        }
        await cluster.WaitForStagesAsync(s => s.HoldsOnlyPrefixCache, "every stage to hold nothing but retained prefixes after the traffic");
    }

    [Fact]
    public async Task TooLargeATopNOrTooLongATextForTheFullViewsIsInvalid()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 1);
        var error = await Assert.ThrowsAsync<RpcException>(() => cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, TopN = 21 }).ResponseAsync);
        Assert.True(error.StatusCode == StatusCode.InvalidArgument && error.Status.Detail.Contains("top_n must be in [1, 20]"), $"{error.StatusCode}: {error.Status.Detail}");

        var longText = string.Join(" ", Enumerable.Repeat("and", 80));
        error = await Assert.ThrowsAsync<RpcException>(() => cluster.Client.InspectAsync(new InspectRequest { Text = longText, LensAllPositions = true }).ResponseAsync);
        Assert.True(error.StatusCode == StatusCode.InvalidArgument && error.Status.Detail.Contains("lens_all_positions") && error.Status.Detail.Contains("at most 64"),
            $"{error.StatusCode}: {error.Status.Detail}");
    }

    [Fact]
    public async Task ASessionIsInspectedAsItStandsAndLeftAsItWas()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest())).SessionId;
        var greedy = new SamplingParameters { Temperature = 0, MaxNewTokens = 5, IgnoreEos = true };
        var (first, _) = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = Prompt, SessionId = session, Sampling = greedy });

        var inspected = await cluster.Client.InspectAsync(new InspectRequest { Text = " and", SessionId = session, TopN = 3 });
        var again = await cluster.Client.InspectAsync(new InspectRequest { Text = "", SessionId = session, TopN = 3 });

        var history = inspected.SessionTokens.Select(t => t.Id).ToList();
        Assert.True(history.Count > first.Count && history.TakeLast(first.Count).SequenceEqual(first) && again.SessionTokens.Select(t => t.Id).SequenceEqual(history),
            $"session tokens [{string.Join(", ", history)}] (again [{string.Join(", ", again.SessionTokens.Select(t => t.Id))}]) should end with the generated [{string.Join(", ", first)}]");
        Assert.True(again.Tokenization.Tokens.Count == 0 && again.LogitLens[^1].Top.Count == 3, "an empty text inspects the conversation as it stands");
        var columns = (uint)(history.Count + inspected.Tokenization.Tokens.Count);
        Assert.True(inspected.Attention.All(a => a.Columns == columns) && inspected.Embedding.Count == columns,
            $"attention over {inspected.Attention[0].Columns} positions, {inspected.Embedding.Count} embeddings; the session and the text hold {columns}");

        // The next turn of the session, one greedy token with " and": what Inspect saw as the next-token distribution.
        var (_, last) = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest
        {
            Text = " and", SessionId = session, TopLogprobs = 3, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 1, IgnoreEos = true },
        });
        var generated = last.Logprobs[0].Top;
        Assert.True(inspected.NextToken.Select(t => t.Id).SequenceEqual(generated.Select(t => t.TokenId)) && inspected.NextToken.Zip(generated).All(p => Math.Abs(p.First.Logprob - p.Second.Logprob) < 1e-4),
            $"Inspect of the session + \" and\" [{string.Join(", ", inspected.NextToken.Select(t => $"{t.Id}:{t.Logprob:F5}"))}], its next turn's top [{string.Join(", ", generated.Select(t => $"{t.TokenId}:{t.Logprob:F5}"))}]");

        var missing = await Assert.ThrowsAsync<RpcException>(() => cluster.Client.InspectAsync(new InspectRequest { Text = "x", SessionId = "no-such-session" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task TheLensAtEveryPositionIsWhatEachPrefixOfTheTextPredicts()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        var full = await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt, TopN = 3, LensAllPositions = true, Attention = false });
        var tokens = full.Tokenization.Tokens;

        foreach (var layer in full.LogitLens)
        {
            var last = layer.Positions.LastOrDefault();
            Assert.True(layer.Positions.Count == tokens.Count && layer.Positions.Select(p => p.Position).SequenceEqual(Enumerable.Range(0, tokens.Count).Select(i => (uint)i))
                && last!.Top.Select(t => t.Id).SequenceEqual(layer.Top.Select(t => t.Id)) && Math.Abs(last.HiddenNorm - layer.HiddenNorm) < 1e-5,
                $"layer {layer.Layer}: {layer.Positions.Count} positions for {tokens.Count} tokens; last [{string.Join(", ", last?.Top.Select(t => t.Id) ?? [])}] norm {last?.HiddenNorm}, the layer's [{string.Join(", ", layer.Top.Select(t => t.Id))}] norm {layer.HiddenNorm}");
        }
        for (var p = 0; p < tokens.Count - 1; p++)
        {
            if (tokens[p].CharEnd == 0)
            {
                continue; // a BOS covers no text
            }
            var prefix = await cluster.Client.InspectAsync(new InspectRequest { Text = Prompt[..(int)tokens[p].CharEnd], TopN = 3, Attention = false });
            Assert.Equal(tokens.Take(p + 1).Select(t => t.Id), prefix.Tokenization.Tokens.Select(t => t.Id));
            var atP = full.LogitLens[^1].Positions[p].Top;
            Assert.True(atP.Select(t => t.Id).SequenceEqual(prefix.NextToken.Select(t => t.Id)) && atP.Zip(prefix.NextToken).All(x => Math.Abs(x.First.Logprob - x.Second.Logprob) < 1e-4),
                $"position {p}: the lens [{string.Join(", ", atP.Select(t => $"{t.Id}:{t.Logprob:F5}"))}], the prefix's next token [{string.Join(", ", prefix.NextToken.Select(t => $"{t.Id}:{t.Logprob:F5}"))}]");
        }
    }
}
