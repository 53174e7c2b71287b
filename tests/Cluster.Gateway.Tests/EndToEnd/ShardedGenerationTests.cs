using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>The sharded cluster, through the real gateway, produces exactly what the single-process engine produces.</summary>
public sealed class ShardedGenerationTests
{
    private static readonly string[] Prompts = ["Hello, world", "오늘 날씨 어때?", "The quick brown fox jumps over", "def main():\n    return 42"];

    [Theory]
    [InlineData(1, 1)] // one stage: each step launched while the one before computes
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    public async Task GreedyOutputEqualsTheSingleProcessEngineTokenForToken(int silos, int stages)
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos, stages);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        foreach (var prompt in Prompts)
        {
            var expected = reference.Generate(prompt, maxNewTokens: 12);
            var (tokens, last) = await GenerateAsync(cluster, new GenerateRequest { Text = prompt, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 12 } });
            Assert.True(expected.SequenceEqual(tokens),
                $"{silos} silos / {stages} stages, prompt '{prompt}': engine [{string.Join(",", expected)}], cluster [{string.Join(",", tokens)}].");
            Assert.Equal((uint)reference.Tokenizer.Encode(prompt).Count, last.Usage.PromptTokens);
            Assert.Equal((uint)tokens.Count, last.Usage.GeneratedTokens);
        }
    }

    [Fact]
    public async Task SixteenConcurrentGenerationsEachEqualTheirSoloRun()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var prompts = Enumerable.Range(0, 16).Select(i => $"{Prompts[i % Prompts.Length]} #{i}").ToList();
        var maxNew = Enumerable.Range(0, 16).Select(i => 6 + i % 5).ToList();

        var runs = prompts.Select((p, i) => GenerateAsync(cluster, new GenerateRequest { Text = p, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = (uint)maxNew[i] } })).ToList();
        var results = await Task.WhenAll(runs);

        for (var i = 0; i < prompts.Count; i++)
        {
            var solo = reference.Generate(prompts[i], maxNew[i]);
            Assert.True(solo.SequenceEqual(results[i].Tokens), $"Request {i} '{prompts[i]}': solo [{string.Join(",", solo)}], concurrent [{string.Join(",", results[i].Tokens)}].");
        }
    }

    /// <summary>
    /// One stage, whose steps overlap (the next launched while one computes, its token taken from the stage's own
    /// sample): twelve concurrent requests, greedy and seeded, some ended by a stop token from their own solo run,
    /// each stream equal to its solo run up to and including that token, and ending for the right reason.
    /// </summary>
    [Fact]
    public async Task OneStageWithOverlappedStepsGivesEachConcurrentStreamItsSoloTokensThroughSeedsAndStops()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 1);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var cases = Enumerable.Range(0, 12).Select(i =>
        {
            var prompt = $"{Prompts[i % Prompts.Length]} #{i}";
            var seeded = i % 2 == 1;
            var maxNew = 8 + i % 5;
            var solo = seeded
                ? reference.Generate(prompt, maxNew, temperature: 0.9f, seed: (ulong)(100 + i), topK: 40, ignoreEos: true)
                : reference.Generate(prompt, maxNew, ignoreEos: true);
            var stopAt = i % 3 == 0 ? 3 : -1; // every third ends at its fourth token, named as a stop token
            var sampling = seeded
                ? new SamplingParameters { Temperature = 0.9f, Seed = (ulong)(100 + i), TopK = 40, MaxNewTokens = (uint)maxNew, IgnoreEos = true }
                : new SamplingParameters { Temperature = 0, MaxNewTokens = (uint)maxNew, IgnoreEos = true };
            if (stopAt >= 0 && solo.IndexOf(solo[stopAt]) == stopAt)
            {
                sampling.StopTokenIds.Add(solo[stopAt]);
            }
            else
            {
                stopAt = -1; // that token came earlier too: the case runs to its length instead
            }
            return (Prompt: prompt, Sampling: sampling, Expected: stopAt >= 0 ? solo[..(stopAt + 1)] : solo, Finish: stopAt >= 0 ? FinishReason.Stop : FinishReason.Length);
        }).ToList();

        var results = await Task.WhenAll(cases.Select(c => GenerateAsync(cluster, new GenerateRequest { Text = c.Prompt, Sampling = c.Sampling })));

        for (var i = 0; i < cases.Count; i++)
        {
            var (tokens, last) = results[i];
            Assert.True(cases[i].Expected.SequenceEqual(tokens) && last.FinishReason == cases[i].Finish,
                $"Request {i} '{cases[i].Prompt}': solo [{string.Join(",", cases[i].Expected)}] ending {cases[i].Finish}, cluster [{string.Join(",", tokens)}] ending {last.FinishReason}.");
        }
        Assert.True(cases.Any(c => c.Finish == FinishReason.Stop), "No case ended at a stop token: the test lost its point.");
    }

    [Fact]
    public async Task SeededSamplingIsReproducibleThroughTheClusterAndMatchesTheEngine()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var request = new GenerateRequest { Text = "Once upon a time", Sampling = new SamplingParameters { Temperature = 1.3f, TopK = 40, TopP = 0.95f, Seed = 1234, MaxNewTokens = 16 } };

        var first = await GenerateAsync(cluster, request);
        var second = await GenerateAsync(cluster, request);
        var engine = reference.Generate("Once upon a time", 16, temperature: 1.3f, seed: 1234, topK: 40, topP: 0.95f);
        var otherSeed = await GenerateAsync(cluster, new GenerateRequest(request) { Sampling = new SamplingParameters(request.Sampling) { Seed = 99 } });

        Assert.Equal(first.Tokens, second.Tokens);
        Assert.True(engine.SequenceEqual(first.Tokens), $"engine [{string.Join(",", engine)}], cluster [{string.Join(",", first.Tokens)}].");
        Assert.False(first.Tokens.SequenceEqual(otherSeed.Tokens), $"Seeds 1234 and 99 gave the same 16 tokens [{string.Join(",", first.Tokens)}]; sampling ignores the seed.");
    }

    [Fact]
    public async Task MinPSamplingThroughTheClusterMatchesTheEngineAndChangesTheTokens()
    {
        // min_p travels .proto → validator → SamplingSettings → the last stage's sampler. The engine reference builds
        // its SamplingParameters itself (not through the silo's mapping), so a field lost on the way shows up here.
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var request = new GenerateRequest { Text = "Once upon a time", Sampling = new SamplingParameters { Temperature = 1.5f, TopP = 0.95f, MinP = 0.3f, Seed = 4321, MaxNewTokens = 16 } };

        var first = await GenerateAsync(cluster, request);
        var second = await GenerateAsync(cluster, request);
        var engine = reference.Generate("Once upon a time", 16, temperature: 1.5f, seed: 4321, topP: 0.95f, minP: 0.3f);
        var withoutMinP = reference.Generate("Once upon a time", 16, temperature: 1.5f, seed: 4321, topP: 0.95f);

        Assert.Equal(first.Tokens, second.Tokens);
        Assert.True(engine.SequenceEqual(first.Tokens), $"engine [{string.Join(",", engine)}], cluster [{string.Join(",", first.Tokens)}].");
        Assert.False(engine.SequenceEqual(withoutMinP), $"min_p 0.3 and none gave the same 16 tokens [{string.Join(",", engine)}]; the test does not exercise min_p.");
    }

    [Fact]
    public async Task PenaltiesAndLogitBiasThroughTheClusterMatchTheEngineAndChangeTheTokens()
    {
        // presence_penalty, frequency_penalty and logit_bias travel .proto → validator → SamplingSettings → the last
        // stage's sampler, which also needs the generated tokens in its session's history for the first two.
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var prompt = reference.Tokenizer.Encode("Once upon a time");
        var sampling = new SamplingParameters { Temperature = 1.2f, Seed = 2468, MaxNewTokens = 16, PresencePenalty = 0.8f, FrequencyPenalty = 1.5f };
        var greedy = reference.Generate(prompt, 16, new Cluster.Engine.Sampling.SamplingParameters { Temperature = 0f });
        sampling.LogitBias[greedy[0]] = -100f;
        sampling.LogitBias[greedy[1]] = 5f;
        var request = new GenerateRequest { Text = "Once upon a time", Sampling = sampling };

        var seeded = await GenerateAsync(cluster, request);
        var engineParameters = new Cluster.Engine.Sampling.SamplingParameters
        {
            Temperature = 1.2f, Seed = 2468, PresencePenalty = 0.8f, FrequencyPenalty = 1.5f,
            LogitBias = new Dictionary<int, float> { [greedy[0]] = -100f, [greedy[1]] = 5f },
        };
        var engine = reference.Generate(prompt, 16, engineParameters);
        var plain = reference.Generate(prompt, 16, engineParameters with { PresencePenalty = 0f, FrequencyPenalty = 0f, LogitBias = null });
        Assert.True(engine.SequenceEqual(seeded.Tokens), $"seeded: engine [{string.Join(",", engine)}], cluster [{string.Join(",", seeded.Tokens)}].");
        Assert.False(engine.SequenceEqual(plain), $"the penalties and bias left the 16 seeded tokens [{string.Join(",", engine)}] unchanged; the test does not exercise them.");

        // Greedy: the same, through the stop rules' path.
        sampling.Temperature = 0f;
        var greedyCluster = await GenerateAsync(cluster, request);
        var greedyEngine = reference.Generate(prompt, 16, engineParameters with { Temperature = 0f });
        Assert.True(greedyEngine.SequenceEqual(greedyCluster.Tokens), $"greedy: engine [{string.Join(",", greedyEngine)}], cluster [{string.Join(",", greedyCluster.Tokens)}].");
        Assert.True(greedyCluster.Tokens[0] != greedy[0], $"logit_bias -100 on token {greedy[0]} left it first: [{string.Join(",", greedyCluster.Tokens)}]");
    }

    [Theory]
    [InlineData(0f, 0UL)]
    [InlineData(1f, 81UL)]
    public async Task AJsonSchemaHoldsTheOutputAcrossStagesAndMatchesTheEngine(float temperature, ulong seed)
    {
        // Booleans and an enum: all but whitespace is forced, so the random weights finish the value (STOP, then EOS).
        const string schema = """
            {"type": "object", "properties": {"ok": {"type": "boolean"}, "size": {"enum": ["small", "large"]}, "note": {"type": "null"}},
             "required": ["ok", "size"], "additionalProperties": false}
            """;
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 3);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var prompt = reference.Tokenizer.Encode("Once upon a time");
        var request = new GenerateRequest
        {
            Text = "Once upon a time",
            Sampling = new SamplingParameters { Temperature = temperature, Seed = seed, MaxNewTokens = 200, ResponseFormat = ResponseFormat.JsonSchema, JsonSchema = schema },
        };

        var (tokens, last) = await GenerateAsync(cluster, request);
        var engine = reference.GenerateJson(prompt, 200, new Cluster.Engine.Sampling.SamplingParameters { Temperature = temperature, Seed = seed }, schema);

        Assert.True(engine.SequenceEqual(tokens), $"engine [{string.Join(",", engine)}], cluster [{string.Join(",", tokens)}]");
        var text = reference.Tokenizer.Decode(tokens[..^1]);
        Assert.True(last.FinishReason == FinishReason.Stop && reference.EosTokenIds.Contains(tokens[^1]), $"ended {last.FinishReason} on {tokens[^1]}: {text}");
        var automaton = Cluster.JsonSchemas.TextAutomaton.FromJsonSchema(schema);
        var state = automaton.Start;
        Assert.True(automaton.TryFeed(ref state, System.Text.Encoding.UTF8.GetBytes(text)) && automaton.CanEnd(state), $"not a value of the schema: {text}");
        using var document = System.Text.Json.JsonDocument.Parse(text);
        Assert.True(document.RootElement.GetProperty("size").GetString() is "small" or "large", text);
    }

    [Theory]
    [InlineData(0f, 0UL, false)]
    [InlineData(1f, 77UL, false)]
    [InlineData(1.5f, 78UL, false)]
    [InlineData(1f, 79UL, true)]
    public async Task JsonModeHoldsTheOutputToOneObjectAndMatchesTheEngine(float temperature, ulong seed, bool nudgedToClose)
    {
        // The test model's random weights open strings and never close them; a bias on '"', ':' and '}' (GPT-2 ids
        // 1, 25, 92) makes one case write a whole object, so the end of JSON mode (EOS, and nothing else) is seen too.
        var bias = nudgedToClose ? new Dictionary<int, float> { [1] = 12f, [25] = 12f, [92] = 12f } : null;
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var prompt = reference.Tokenizer.Encode("Once upon a time");
        var request = new GenerateRequest
        {
            Text = "Once upon a time",
            Sampling = new SamplingParameters { Temperature = temperature, Seed = seed, MaxNewTokens = 40, ResponseFormat = ResponseFormat.JsonObject },
        };
        request.Sampling.LogitBias.Add(bias ?? []);

        var (tokens, last) = await GenerateAsync(cluster, request);
        var engine = reference.GenerateJson(prompt, 40, new Cluster.Engine.Sampling.SamplingParameters { Temperature = temperature, Seed = seed, LogitBias = bias });

        Assert.True(engine.SequenceEqual(tokens), $"engine [{string.Join(",", engine)}], cluster [{string.Join(",", tokens)}]");
        var generated = last.FinishReason == FinishReason.Stop ? tokens[..^1] : tokens; // STOP ends with EOS
        var text = reference.Tokenizer.Decode(generated);
        Assert.True(!nudgedToClose || last.FinishReason == FinishReason.Stop, $"nudged to close, but ended {last.FinishReason}: {text}");
        var state = new Cluster.Engine.Sampling.Json.JsonPrefixState();
        Assert.True(state.Feed(System.Text.Encoding.UTF8.GetBytes(text)), $"not the beginning of a JSON object: {text}");
        if (last.FinishReason == FinishReason.Stop)
        {
            Assert.True(reference.EosTokenIds.Contains(tokens[^1]), $"finished on {tokens[^1]}, not EOS");
            using var document = System.Text.Json.JsonDocument.Parse(text);
            Assert.Equal(System.Text.Json.JsonValueKind.Object, document.RootElement.ValueKind);
        }
        else
        {
            Assert.Equal(FinishReason.Length, last.FinishReason);
        }
    }

    [Fact]
    public async Task ListModelsShowsTheStagesOfAReplicaOnDifferentSilos()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 3, stages: 3);
        var models = await cluster.Client.ListModelsAsync(new ListModelsRequest());
        var model = Assert.Single(models.Models);
        var stages = Assert.Single(model.Replicas).Stages;
        Assert.Equal(3, stages.Count);
        Assert.True(stages.Select(s => s.Silo).Distinct().Count() == 3, $"Stages ran on [{string.Join(", ", stages.Select(s => s.Silo))}].");
        Assert.Equal(0u, stages[0].FirstLayer);
        Assert.Equal(model.Layers, stages[^1].EndLayer);
        for (var s = 1; s < stages.Count; s++)
        {
            Assert.Equal(stages[s - 1].EndLayer, stages[s].FirstLayer);
        }
    }

    internal static async Task<(List<int> Tokens, GenerateResponse Last)> GenerateAsync(ClusterUnderTest cluster, GenerateRequest request, string? apiKey = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        using var call = cluster.Client.Generate(request, ClusterUnderTest.Bearer(apiKey), cancellationToken: timeout.Token);
        var tokens = new List<int>();
        GenerateResponse? last = null;
        await foreach (var response in call.ResponseStream.ReadAllAsync(timeout.Token))
        {
            tokens.AddRange(response.TokenIds);
            last = response;
        }
        Assert.NotNull(last);
        Assert.NotEqual(FinishReason.Unspecified, last.FinishReason);
        return (tokens, last);
    }
}
