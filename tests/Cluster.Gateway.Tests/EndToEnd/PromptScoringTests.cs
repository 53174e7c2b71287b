using Cluster.Contracts.Api;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// prompt_logprobs: the cluster scores a prompt as the single-process engine's one forward pass does, whatever the
/// stage split and however the prompt is chunked (the last row of each chunk scored with the next chunk's first
/// token), in a step shared with other sequences, and without a prefix-cache hit (a scored prompt computes every
/// position); the first message carries them with the prompt's ids, and the generated tokens stay those of an
/// unscored request.
/// </summary>
public sealed class PromptScoringTests
{
    /// <summary>Longer than the 32 rows the last stage scores at once, so one chunk is scored in slices.</summary>
    private const string Prompt = "The quick brown fox jumps over the lazy dog, and then 오늘 날씨 어때? The lazy dog sleeps; the fox runs on.";

    [Theory]
    [InlineData(1, 1, 256)]
    [InlineData(2, 2, 5)]  // chunks of 5 tokens: every chunk boundary scored through NextTokenId
    [InlineData(3, 3, 7)]
    public async Task ThePromptsLogprobsEqualTheEnginesForwardPass_AcrossStagesAndChunks(int silos, int stages, int maxBatchTokens)
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos, stages,
            settings: new Dictionary<string, string?> { ["Gateway:Scheduler:MaxBatchTokens"] = maxBatchTokens.ToString() });
        using var reference = new ReferenceEngine(cluster.CheckpointPath);
        var ids = reference.Tokenizer.Encode(Prompt);
        var expected = reference.PromptLogprobs(ids);

        // Beside an unscored request, so the scored chunks share steps with another sequence.
        var other = GenerateAsync(cluster, new GenerateRequest { Text = "Hello, world", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 8 } });
        var (tokens, first, _) = await GenerateAsync(cluster, new GenerateRequest { Text = Prompt, PromptLogprobs = 3, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 4 } });
        await other;

        Assert.True(ids.Count > 32, $"the prompt has {ids.Count} tokens; the test needs more than 32");
        Assert.Equal(ids, first.PromptTokenIds);
        Assert.Equal(ids.Count - 1, first.PromptLogprobs.Count);
        for (var p = 1; p < ids.Count; p++)
        {
            var scored = first.PromptLogprobs[p - 1];
            var row = expected[p - 1];
            var best = Enumerable.Range(0, row.Length).OrderByDescending(v => row[v]).Take(3).ToArray();
            Assert.True(scored.TokenId == ids[p] && scored.Piece == reference.Tokenizer.TokenPiece(ids[p]) && Math.Abs(scored.Logprob - row[ids[p]]) < 1e-4,
                $"{stages} stages, chunks of {maxBatchTokens}: position {p} (token {ids[p]}) scored {scored.TokenId} at {scored.Logprob}; the engine's forward pass says {row[ids[p]]}");
            Assert.True(scored.Top.Select(t => t.TokenId).SequenceEqual(best) && scored.Top.Zip(best).All(pair => Math.Abs(pair.First.Logprob - row[pair.Second]) < 1e-4),
                $"position {p}: alternatives [{string.Join(", ", scored.Top.Select(t => $"{t.TokenId}:{t.Logprob}"))}]; the engine's [{string.Join(", ", best.Select(v => $"{v}:{row[v]}"))}]");
        }
        Assert.Equal(reference.Generate(ids, maxNewTokens: 4), tokens);
    }

    [Fact]
    public async Task AScoredPromptTakesNoPrefixCacheHit_AndScoresEveryPositionAgain()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(1, 1,
            settings: new Dictionary<string, string?> { ["Gateway:Scheduler:PrefixBlockTokens"] = "4" });
        var request = new GenerateRequest { Text = Prompt, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 2 } };
        var (_, plain, _) = await GenerateAsync(cluster, request);
        var (_, _, again) = await GenerateAsync(cluster, request);
        Assert.True(again.Usage.CachedPromptTokens > 0, "the unscored prompt should hit the prefix cache the first one left (else this test proves nothing)");

        request.PromptLogprobs = 0;
        var (_, first, firstLast) = await GenerateAsync(cluster, request);
        var (_, second, secondLast) = await GenerateAsync(cluster, request);
        Assert.True(firstLast.Usage.CachedPromptTokens == 0 && secondLast.Usage.CachedPromptTokens == 0,
            $"scored prompts took {firstLast.Usage.CachedPromptTokens} and {secondLast.Usage.CachedPromptTokens} cached tokens");
        Assert.Equal(first.PromptLogprobs.Select(l => l.Logprob), second.PromptLogprobs.Select(l => l.Logprob));
        Assert.All(first.PromptLogprobs, l => Assert.True(float.IsFinite(l.Logprob) && l.Logprob <= 0 && l.Top.Count == 0, l.ToString()));
        Assert.Empty(plain.PromptLogprobs);
    }

    [Fact]
    public async Task WhatCannotBeScoredIsRefused()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(1, 1);
        var session = (await cluster.Client.CreateSessionAsync(new CreateSessionRequest())).SessionId;
        foreach (var (request, message) in new[]
        {
            (new GenerateRequest { Text = "hi", PromptLogprobs = 21 }, "prompt_logprobs must be in [0, 20]; got 21"),
            (new GenerateRequest { Text = "hi", PromptLogprobs = 1, SessionId = session }, "prompt_logprobs cannot be combined with session_id"),
        })
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => GenerateAsync(cluster, request));
            Assert.True(error.StatusCode == StatusCode.InvalidArgument && error.Status.Detail.Contains(message), $"{error.StatusCode}: {error.Status.Detail}");
        }
    }

    /// <summary>The generated tokens, the first message (where prompt_logprobs come) and the last (usage).</summary>
    private static async Task<(List<int> Tokens, GenerateResponse First, GenerateResponse Last)> GenerateAsync(ClusterUnderTest cluster, GenerateRequest request)
    {
        var tokens = new List<int>();
        GenerateResponse? first = null;
        GenerateResponse? last = null;
        using var call = cluster.Client.Generate(request);
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            first ??= response;
            last = response;
            tokens.AddRange(response.TokenIds);
        }
        return (tokens, first!, last!);
    }
}
