using Cluster.Engine.Model;
using TorchSharp;

namespace Cluster.Engine.Tests.Model;

/// <summary>Logits for a subset of a step's chunks (the ones that sample) are those rows of the logits of all chunks, within fp32 rounding (the head runs on fewer rows).</summary>
public sealed class LogitRowsTests(TinyModelFixture models) : IClassFixture<TinyModelFixture>
{
    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void OnlyChunksGivesTheSameRowsAsAllChunks(string architecture)
    {
        var model = models.Model(architecture);
        var prompts = new[] { TestTokens.Sequence(5, 41), TestTokens.Sequence(11, 42), TestTokens.Sequence(1, 43), TestTokens.Sequence(7, 44) };
        using var scope = torch.NewDisposeScope();
        var caches = prompts.Select(_ => model.CreateCache()).ToArray();
        try
        {
            var chunks = prompts.Select((p, i) => SequenceChunk.ForTokens(caches[i], 0, p)).ToArray();
            var hidden = model.RunLayers(model.Embed(chunks), chunks); // (T, H)
            var all = model.Logits(hidden, chunks);                   // (4, V)
            int[] picked = [3, 1];
            var some = model.Logits(hidden, chunks, onlyChunks: picked); // (2, V)
            Assert.Equal([2L, model.Config.VocabularySize], some.shape);
            for (var row = 0; row < picked.Length; row++)
            {
                TensorAssert.Close(all.narrow(0, picked[row], 1), some.narrow(0, row, 1), 1e-5, $"{architecture} chunk {picked[row]} as row {row}");
            }
            var outside = Assert.Throws<ArgumentOutOfRangeException>(() => model.Logits(hidden, chunks, onlyChunks: [4]));
            Assert.Contains("Chunk index 4 at position 0 is outside the step's 4 chunks", outside.Message);
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache.Dispose();
            }
        }
    }
}
