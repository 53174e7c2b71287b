using Cluster.Contracts.Api;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>Tokenize, CountTokens, Detokenize and Generate agree on what a prompt costs.</summary>
public sealed class TokenCountTests
{
    [Theory]
    [InlineData("안녕하세요, 오늘 날씨가 정말 좋네요! 산책하러 갈까요?")]
    [InlineData("Hello, world")]
    public async Task CountTokensEqualsTokenizeAndThePromptTokensGenerateReports(string prompt)
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        using var reference = new ReferenceEngine(cluster.CheckpointPath);

        var count = (await cluster.Client.CountTokensAsync(new CountTokensRequest { Text = prompt })).Count;
        var tokens = (await cluster.Client.TokenizeAsync(new TokenizeRequest { Text = prompt })).Tokens;
        var (_, last) = await ShardedGenerationTests.GenerateAsync(cluster,
            new GenerateRequest { Text = prompt, Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 2 } });

        Assert.True(count == tokens.Count && count == last.Usage.PromptTokens,
            $"'{prompt}': CountTokens {count}, Tokenize {tokens.Count} tokens, Generate's prompt_tokens {last.Usage.PromptTokens}.");
        var expected = reference.Tokenizer.Encode(prompt);
        var ids = tokens.Select(t => t.Id).ToList();
        Assert.True(expected.SequenceEqual(ids), $"'{prompt}': Tokenize gave [{string.Join(",", ids)}]; the checkpoint's tokenizer [{string.Join(",", expected)}].");
        var back = (await cluster.Client.DetokenizeAsync(new DetokenizeRequest { TokenIds = { ids }, SkipSpecialTokens = true })).Text;
        Assert.Equal(prompt, back);
    }

    [Fact]
    public async Task InspectShowsTokenizesTokensWithTheTextEachCoversAndBadTextIsInvalid()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 1);
        const string text = "오늘 날씨 👍🏽 fine";

        var view = (await cluster.Client.InspectAsync(new InspectRequest { Text = text })).Tokenization;
        var tokens = (await cluster.Client.TokenizeAsync(new TokenizeRequest { Text = text })).Tokens;

        Assert.Equal(tokens.Select(t => (t.Id, t.Piece)), view.Tokens.Select(t => (t.Id, t.Piece)));
        var covered = view.Tokens.SelectMany(t => System.Text.Encoding.UTF8.GetBytes(text)[(int)t.ByteStart..(int)t.ByteEnd]).ToArray();
        Assert.Equal(System.Text.Encoding.UTF8.GetBytes(text), covered);
        Assert.Equal(["오늘", "날씨", "👍🏽", "fine"], view.Words.Select(w => w.Text));
        Assert.Equal(12, view.Characters.Count); // 오 늘 · 날 씨 · 👍🏽 · f i n e

        var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() => cluster.Client.InspectAsync(new InspectRequest { Text = "" }).ResponseAsync);
        Assert.True(error.StatusCode == Grpc.Core.StatusCode.InvalidArgument && error.Status.Detail.Contains("text is empty"), $"{error.StatusCode}: {error.Status.Detail}");
    }
}
