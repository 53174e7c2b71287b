using Cluster.Contracts.Api;
using Cluster.Gateway.Requests;
using Cluster.Tokenizers;
using Grpc.Core;

namespace Cluster.Gateway.Tests.Requests;

/// <summary>Tokenize, CountTokens and Detokenize: empty text is fine, over-long text and foreign ids are not.</summary>
public sealed class TokenizerRequestValidatorTests
{
    private static readonly ModelLimits Limits = new(ContextLength: 64, VocabularySize: 1024, MaxNewTokensLimit: 32, MaxPromptCharacters: 100);

    [Fact]
    public void Empty_text_tokenizes_to_nothing_or_BOS_alone()
    {
        IReadOnlyList<int> gpt2 = TokenizerRequestValidator.Tokenize(new TokenizeRequest { Text = "" }, TestTokenizers.Gpt2, Limits);
        IReadOnlyList<int> sentencePiece = TokenizerRequestValidator.Tokenize(new TokenizeRequest { Text = "" }, TestTokenizers.SentencePiece, Limits);
        int count = TokenizerRequestValidator.CountTokens(new CountTokensRequest { Text = "", AddSpecialTokens = false }, TestTokenizers.SentencePiece, Limits);

        Assert.Empty(gpt2);
        Assert.Equal([TestTokenizers.SentencePiece.BosTokenId!.Value], sentencePiece);
        Assert.Equal(0, count);
    }

    [Theory]
    [InlineData(TestTokenizers.Gpt2Name, "오늘 날씨 어때?")]
    [InlineData(TestTokenizers.SentencePieceName, "오늘 날씨 어때?")]
    [InlineData(TestTokenizers.SentencePieceName, "<s>the weather")]
    public void CountTokens_is_what_Generate_reports_as_prompt_tokens(string tokenizerName, string text)
    {
        CheckpointTokenizer tokenizer = TestTokenizers.ByName(tokenizerName);

        int counted = TokenizerRequestValidator.CountTokens(new CountTokensRequest { Text = text }, tokenizer, Limits);
        IReadOnlyList<int> tokenized = TokenizerRequestValidator.Tokenize(new TokenizeRequest { Text = text }, tokenizer, Limits);
        GenerationRequest generate = GenerateRequestValidator.Validate(new GenerateRequest { Text = text }, "m", tokenizer, Limits with { ContextLength = 1000 }, [], "r");

        Assert.True(counted == generate.PromptTokens.Count && tokenized.SequenceEqual(generate.PromptTokens),
            $"count {counted}, tokenize [{string.Join(", ", tokenized)}], generate [{string.Join(", ", generate.PromptTokens)}]");
    }

    [Fact]
    public void Over_long_text_is_invalid_argument()
    {
        string text = new('x', 101);

        RpcException tokenize = Assert.Throws<RpcException>(() => TokenizerRequestValidator.Tokenize(new TokenizeRequest { Text = text }, TestTokenizers.Gpt2, Limits));
        RpcException count = Assert.Throws<RpcException>(() => TokenizerRequestValidator.CountTokens(new CountTokensRequest { Text = text }, TestTokenizers.Gpt2, Limits));

        foreach (RpcException e in new[] { tokenize, count })
        {
            Assert.True(e.StatusCode == StatusCode.InvalidArgument && e.Status.Detail == "text is 101 characters long; at most 100 are allowed", $"{e.StatusCode}: {e.Status.Detail}");
        }
    }

    [Fact]
    public void Detokenize_rejects_ids_outside_the_vocabulary()
    {
        RpcException e = Assert.Throws<RpcException>(() =>
            TokenizerRequestValidator.Detokenize(new DetokenizeRequest { TokenIds = { 10, 2000 } }, TestTokenizers.Gpt2, Limits));

        Assert.True(e.StatusCode == StatusCode.InvalidArgument && e.Status.Detail == "token_ids: token id 2000 at index 1 is outside the vocabulary [0, 1024)", $"{e.StatusCode}: {e.Status.Detail}");
    }

    [Fact]
    public void Detokenize_skips_padding_ids_the_tokenizer_does_not_know()
    {
        CheckpointTokenizer tokenizer = TestTokenizers.Gpt2;
        var padded = Limits with { VocabularySize = 1100 }; // embedding rows beyond the tokenizer's 1024 ids
        var request = new DetokenizeRequest { TokenIds = { tokenizer.Encode("Hi") } };
        request.TokenIds.Add(1050);

        Assert.Equal("Hi", TokenizerRequestValidator.Detokenize(request, tokenizer, padded));
    }
}
