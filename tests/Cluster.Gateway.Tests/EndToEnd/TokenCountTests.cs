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
}
