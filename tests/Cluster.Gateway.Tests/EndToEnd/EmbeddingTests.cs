using Cluster.Contracts.Api;
using Cluster.Testing;
using Grpc.Core;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// Embed through the whole cluster: the vectors are the checkpoint's own numbers (layer 0 is the mean of the inputs'
/// embedding rows; the last layer's last-token state, through the LM head, picks Generate's greedy token), they do
/// not depend on how the layers are split over stages or on what else is in the batch, and bad input is refused.
/// </summary>
public sealed class EmbeddingTests
{
    private static readonly int[][] Inputs = [[5, 17, 300, 42], [7], [900, 901, 902, 903, 904, 905, 906]];

    [Fact]
    public async Task TheSameInputsGiveTheSameVectorsOnOneTwoAndThreeStagesAndInABatchAsAlone()
    {
        var byStages = new List<float[][]>();
        foreach (var stages in new[] { 1, 2, 3 })
        {
            await using var cluster = await ClusterUnderTest.StartAsync(silos: stages, stages: stages);
            byStages.Add(await EmbedAsync(cluster, Inputs));
            if (stages == 2)
            {
                for (var i = 0; i < Inputs.Length; i++)
                {
                    var alone = (await EmbedAsync(cluster, [Inputs[i]]))[0];
                    AssertClose(byStages[^1][i], alone, $"input {i} in a batch of {Inputs.Length} against alone, 2 stages");
                }
            }
        }
        for (var s = 1; s < byStages.Count; s++)
        {
            for (var i = 0; i < Inputs.Length; i++)
            {
                AssertClose(byStages[0][i], byStages[s][i], $"input {i}: 1 stage against {s + 1} stages");
            }
        }
        foreach (var vector in byStages[0])
        {
            var length = Math.Sqrt(vector.Sum(v => (double)v * v));
            Assert.True(Math.Abs(length - 1) < 1e-5, $"a normalised vector has length {length}");
        }
    }

    [Fact]
    public async Task LayerZeroIsTheMeanOfTheEmbeddingRowsAndTheLastLayersLastTokenPicksTheGreedyToken()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 2, stages: 2);
        // The same checkpoint again, for its tensors: TinyCheckpoint is deterministic in its options.
        using var copy = TempDirectory.Create("embedding-reference");
        var tensors = TinyCheckpoint.Write(copy.Path, TinyModelOptions.Llama with { Tokenizer = TinyTokenizer.Gpt2Bpe }).ToDictionary(t => t.Name);
        var embedding = tensors["model.embed_tokens.weight"];
        var head = tensors["lm_head.weight"];
        var width = (int)embedding.Shape[1];
        var input = Inputs[0];

        var layer0 = await cluster.Client.EmbedAsync(Request([input], layer: 0, normalize: false));
        var expected = new float[width];
        foreach (var id in input)
        {
            for (var j = 0; j < width; j++)
            {
                expected[j] += embedding.Values[id * width + j] / input.Length;
            }
        }
        AssertClose(expected, [.. layer0.Embeddings[0].Values], "layer 0, mean pooling, against the mean of the checkpoint's embedding rows");
        Assert.Equal(0u, layer0.Layer);

        var last = await cluster.Client.EmbedAsync(Request([input], layer: null, normalize: false, EmbeddingPooling.LastToken));
        var state = last.Embeddings[0].Values;
        var vocabulary = (int)head.Shape[0];
        var best = Enumerable.Range(0, vocabulary).MaxBy(v => Enumerable.Range(0, width).Sum(j => (double)head.Values[v * width + j] * state[j]));
        var generated = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest
        {
            TokenIds = new TokenIds { Ids = { input } },
            AddSpecialTokens = false,
            Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 1, IgnoreEos = true },
        });
        Assert.True(generated.Tokens[0] == best, $"the LM head on the last layer's last-token state picks {best}; Generate's greedy token is {generated.Tokens[0]}");
        Assert.Equal((uint)width, last.Dimensions);
        Assert.Equal((uint)input.Length, last.PromptTokens);
    }

    [Theory]
    [InlineData("none", "input has 0 inputs")]
    [InlineData("layer", "layer must be in [0, 4]")]
    [InlineData("vocabulary", "outside the vocabulary")]
    [InlineData("both", "not both")]
    public async Task BadInputIsInvalidArgumentNamingTheField(string what, string message)
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 1);
        var request = what switch
        {
            "none" => new EmbedRequest(),
            "layer" => Request([[1, 2]], layer: 5, normalize: true),
            "vocabulary" => Request([[1, 999_999]], layer: null, normalize: true),
            _ => new EmbedRequest { Texts = { "hi" }, TokenInputs = { new TokenIds { Ids = { 1 } } } },
        };
        var error = await Assert.ThrowsAsync<RpcException>(() => cluster.Client.EmbedAsync(request).ResponseAsync);
        Assert.True(error.StatusCode == StatusCode.InvalidArgument && error.Status.Detail.Contains(message, StringComparison.Ordinal),
            $"expected INVALID_ARGUMENT containing \"{message}\"; got {error.StatusCode}: {error.Status.Detail}");
    }

    private static EmbedRequest Request(int[][] inputs, uint? layer, bool normalize, EmbeddingPooling pooling = EmbeddingPooling.Mean)
    {
        var request = new EmbedRequest { Normalize = normalize, Pooling = pooling };
        if (layer is { } l)
        {
            request.Layer = l;
        }
        foreach (var input in inputs)
        {
            request.TokenInputs.Add(new TokenIds { Ids = { input } });
        }
        return request;
    }

    private static async Task<float[][]> EmbedAsync(ClusterUnderTest cluster, int[][] inputs)
    {
        var response = await cluster.Client.EmbedAsync(Request(inputs, layer: null, normalize: true));
        Assert.Equal(inputs.Length, response.Embeddings.Count);
        return [.. response.Embeddings.Select(e => e.Values.ToArray())];
    }

    private static void AssertClose(float[] expected, float[] actual, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        var worst = Enumerable.Range(0, expected.Length).Max(j => Math.Abs(expected[j] - actual[j]));
        Assert.True(worst <= 1e-5f, $"{what}: largest difference {worst} (> 1e-5); expected [{string.Join(", ", expected.Take(4))}, ...], got [{string.Join(", ", actual.Take(4))}, ...]");
    }
}
