using Cluster.Engine.Model;
using TorchSharp;

namespace Cluster.Engine.Tests.Model;

/// <summary>Incremental decoding with the KV cache must give the logits of recomputing the whole sequence.</summary>
public sealed class CachedDecodingTests(TinyModelFixture models) : IClassFixture<TinyModelFixture>
{
    // fp32, logits of magnitude ~1–10: different matmul shapes reorder sums, which moves results by ~1e-6.
    private const double Fp32Tolerance = 1e-4;

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void TokenByTokenDecodeEqualsFullRecompute(string architecture)
    {
        var model = models.Model(architecture);
        var tokens = TestTokens.Sequence(24, seed: 7);
        using var scope = torch.NewDisposeScope();

        using var fullCache = model.CreateCache();
        var full = model.Forward([SequenceChunk.ForTokens(fullCache, 0, tokens)], allPositions: true); // (24, V)

        using var cache = model.CreateCache();
        var prefill = model.Forward([SequenceChunk.ForTokens(cache, 0, tokens[..8])], allPositions: true); // (8, V)
        TensorAssert.Close(full.narrow(0, 0, 8), prefill, Fp32Tolerance, $"{architecture} prefill of 8");
        for (var p = 8; p < tokens.Length; p++)
        {
            var step = model.Forward([SequenceChunk.Continue(cache, [tokens[p]])]); // (1, V)
            TensorAssert.Close(full.narrow(0, p, 1), step, Fp32Tolerance, $"{architecture} decode at position {p}");
        }
        Assert.Equal(tokens.Length, cache.Length);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void ChunkedPrefillEqualsOneShotPrefill(string architecture)
    {
        var model = models.Model(architecture);
        var tokens = TestTokens.Sequence(30, seed: 11);
        using var scope = torch.NewDisposeScope();
        using var fullCache = model.CreateCache();
        var full = model.Forward([SequenceChunk.ForTokens(fullCache, 0, tokens)], allPositions: true);

        using var cache = model.CreateCache();
        var start = 0;
        foreach (var size in new[] { 7, 1, 13, 9 })
        {
            var logits = model.Forward([SequenceChunk.ForTokens(cache, start, tokens[start..(start + size)])], allPositions: true);
            TensorAssert.Close(full.narrow(0, start, size), logits, Fp32Tolerance, $"{architecture} chunk at {start}..{start + size}");
            start += size;
        }
    }

    [Fact]
    public void RewritingASuffixEqualsAFreshRun()
    {
        // A conversation rewound to a shared prefix overwrites the cache from there on.
        var model = models.Llama;
        var a = TestTokens.Sequence(16, seed: 1);
        var b = a[..10].Concat(TestTokens.Sequence(6, seed: 2)).ToArray();
        using var scope = torch.NewDisposeScope();
        using var cache = model.CreateCache();
        model.Forward([SequenceChunk.ForTokens(cache, 0, a)]);
        cache.Truncate(10);
        var rewritten = model.Forward([SequenceChunk.ForTokens(cache, 10, b[10..])], allPositions: true);

        using var freshCache = model.CreateCache();
        var fresh = model.Forward([SequenceChunk.ForTokens(freshCache, 0, b)], allPositions: true);
        TensorAssert.Close(fresh.narrow(0, 10, 6), rewritten, Fp32Tolerance, "suffix after truncation");
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void ContinuingFromACopiedPrefixEqualsAFreshRun(string architecture)
    {
        // A prefix-cache hit: another sequence's first 16 positions copied in, then only the rest computed.
        var model = models.Model(architecture);
        var shared = TestTokens.Sequence(16, seed: 3);
        var a = shared.Concat(TestTokens.Sequence(5, seed: 4)).ToArray();
        var b = shared.Concat(TestTokens.Sequence(7, seed: 5)).ToArray();
        using var scope = torch.NewDisposeScope();
        using var source = model.CreateCache();
        model.Forward([SequenceChunk.ForTokens(source, 0, a)]);

        using var copy = model.CreateCache(b.Length);
        copy.CopyPrefixFrom(source, shared.Length);
        Assert.Equal(shared.Length, copy.Length);
        var continued = model.Forward([SequenceChunk.ForTokens(copy, shared.Length, b[shared.Length..])], allPositions: true); // (7, V)

        using var freshCache = model.CreateCache();
        var fresh = model.Forward([SequenceChunk.ForTokens(freshCache, 0, b)], allPositions: true); // (23, V)
        TensorAssert.Close(fresh.narrow(0, shared.Length, b.Length - shared.Length), continued, Fp32Tolerance, $"{architecture} suffix after a copied prefix");
    }

    [Fact]
    public void CopyingMorePositionsThanTheSourceHoldsIsRefused()
    {
        using var source = models.Llama.CreateCache(8);
        using var copy = models.Llama.CreateCache(8);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => copy.CopyPrefixFrom(source, 4));
        Assert.Contains("from a cache of 0", error.Message);
    }
}
