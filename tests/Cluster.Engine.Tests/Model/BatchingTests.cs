using Cluster.Engine.Model;
using TorchSharp;

namespace Cluster.Engine.Tests.Model;

/// <summary>Several sequences of different lengths in one call (prefill chunks and decodes mixed) equal each run alone.</summary>
public sealed class BatchingTests(TinyModelFixture models) : IClassFixture<TinyModelFixture>
{
    private const double Fp32Tolerance = 1e-4;

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void MixedPrefillAndDecodeBatchEqualsEachSequenceAlone(string architecture)
    {
        var model = models.Model(architecture);
        var prompts = new[] { TestTokens.Sequence(5, 21), TestTokens.Sequence(17, 22), TestTokens.Sequence(1, 23), TestTokens.Sequence(9, 24) };
        var continuations = new[] { TestTokens.Sequence(4, 31), TestTokens.Sequence(4, 32), TestTokens.Sequence(4, 33), TestTokens.Sequence(4, 34) };
        using var scope = torch.NewDisposeScope();

        // Alone: prefill, then the continuation token by token.
        var alone = new List<TorchSharp.torch.Tensor>[prompts.Length];
        for (var s = 0; s < prompts.Length; s++)
        {
            using var cache = model.CreateCache();
            alone[s] = [model.Forward([SequenceChunk.ForTokens(cache, 0, prompts[s])])];
            alone[s].AddRange(continuations[s].Select(t => model.Forward([SequenceChunk.Continue(cache, [t])])));
        }

        // Together: sequence 0 and 1 prefill in step 0; 2 and 3 join in step 1 while 0 and 1 decode; then all decode.
        var caches = prompts.Select(_ => model.CreateCache()).ToArray();
        var produced = prompts.Select(_ => new List<TorchSharp.torch.Tensor>()).ToArray();
        var nextInput = new int[prompts.Length];
        for (var step = 0; step < 6; step++)
        {
            var members = new List<(int Seq, SequenceChunk Chunk)>();
            for (var s = 0; s < prompts.Length; s++)
            {
                var joinsAt = s < 2 ? 0 : 1;
                if (step < joinsAt || produced[s].Count > continuations[s].Length)
                {
                    continue;
                }
                var chunk = step == joinsAt
                    ? SequenceChunk.ForTokens(caches[s], 0, prompts[s])
                    : SequenceChunk.Continue(caches[s], [continuations[s][nextInput[s]++]]);
                members.Add((s, chunk));
            }
            var logits = model.Forward(members.Select(m => m.Chunk).ToList()); // (members, V)
            for (var i = 0; i < members.Count; i++)
            {
                produced[members[i].Seq].Add(logits.narrow(0, i, 1));
            }
        }

        for (var s = 0; s < prompts.Length; s++)
        {
            Assert.Equal(alone[s].Count, produced[s].Count);
            for (var i = 0; i < alone[s].Count; i++)
            {
                TensorAssert.Close(alone[s][i], produced[s][i], Fp32Tolerance, $"{architecture} sequence {s} output {i}");
            }
            caches[s].Dispose();
        }
    }

    [Fact]
    public void ABadChunkIsRefusedWithAClearMessage()
    {
        var model = models.Llama;
        using var cache = model.CreateCache();
        var outOfVocabulary = Assert.Throws<ArgumentException>(() => model.Forward([SequenceChunk.ForTokens(cache, 0, [3, 5000])]));
        Assert.Contains("token id 5000, outside the vocabulary [0, 1024)", outOfVocabulary.Message);

        var gap = Assert.Throws<ArgumentException>(() => model.Forward([SequenceChunk.ForTokens(cache, 4, [3])]));
        Assert.Contains("starts at position 4 but its cache holds 0", gap.Message);

        var tooLong = Assert.Throws<ArgumentException>(() => model.Forward([SequenceChunk.ForTokens(cache, 0, TestTokens.Sequence(257, 1))]));
        Assert.Contains("beyond the model's context length of 256", tooLong.Message);

        var twice = Assert.Throws<ArgumentException>(() => model.Forward([SequenceChunk.ForTokens(cache, 0, [1]), SequenceChunk.ForTokens(cache, 0, [2])]));
        Assert.Contains("another chunk of the same step", twice.Message);
        Assert.Equal(0, cache.Length);
    }
}
