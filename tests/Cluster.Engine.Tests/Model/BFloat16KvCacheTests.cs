using Cluster.Engine.Configuration;
using Cluster.Engine.Model;
using Cluster.Engine.Tests.Training;
using Cluster.Testing;
using Cluster.Tokenizers;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Cluster.Engine.Tests.Model;

/// <summary>
/// A bf16 KV cache under fp32 activations (<see cref="EngineOptions.KvCacheDType"/>): half the bytes, the decode
/// kernel and libtorch's prefill attention reading the same rounded cache, batching that keeps each sequence's
/// tokens, and the greedy drift from an fp32 cache on the shipped trained model.
/// </summary>
public sealed class BFloat16KvCacheTests(ITestOutputHelper output)
{
    private static readonly EngineOptions Fp32 = new() { Device = "cpu", DType = "float32" };
    private static readonly EngineOptions Bf16Cache = new() { Device = "cpu", DType = "float32", KvCacheDType = "bfloat16" };

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void A_prompt_prefilled_at_once_and_fed_token_by_token_give_the_same_logits(string architecture)
    {
        // At once: libtorch's attention over the widened bf16 cache; token by token: the C# decode kernel over the
        // same bits. Both read every position (the new ones included) after rounding, so they agree within fp32
        // rounding; a kernel that read the cache as fp32, or skipped the rounding of what it writes, would not.
        using var dir = TinyCheckpoint.WriteTemporary(TinyModelOptions.For(architecture));
        using var model = ModelShard.Load(dir.Path, options: Bf16Cache);
        Assert.Equal(ScalarType.BFloat16, model.Placement.KvDType);
        using var scope = torch.NewDisposeScope();
        var prompt = TestTokens.Sequence(9, seed: 5);
        using var atOnce = model.CreateCache();
        using var oneByOne = model.CreateCache();
        var expected = model.Forward([SequenceChunk.ForTokens(atOnce, 0, prompt)]); // (1, V)
        var actual = model.Forward([SequenceChunk.ForTokens(oneByOne, 0, prompt[..1])]);
        for (var i = 1; i < prompt.Length; i++)
        {
            actual = model.Forward([SequenceChunk.Continue(oneByOne, [prompt[i]])]); // (1, V), the decode kernel
        }
        TensorAssert.Close(expected, actual, 1e-4, $"{architecture}: the last position's logits, prefilled against decoded over a bf16 cache");
    }

    [Fact]
    public void A_bf16_cache_takes_half_the_bytes_of_an_fp32_one()
    {
        using var dir = TinyCheckpoint.WriteTemporary(TinyModelOptions.Llama);
        using var fp32 = ModelShard.Load(dir.Path, options: Fp32);
        using var bf16 = ModelShard.Load(dir.Path, options: Bf16Cache);
        using var fp32Cache = fp32.CreateCache(100);
        using var bf16Cache = bf16.CreateCache(100);
        Assert.True(2 * bf16Cache.BytesPerToken == fp32Cache.BytesPerToken && 2 * bf16Cache.Bytes == fp32Cache.Bytes,
            $"bf16: {bf16Cache.BytesPerToken} B/token, {bf16Cache.Bytes} B; fp32: {fp32Cache.BytesPerToken} B/token, {fp32Cache.Bytes} B");
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Batched_sequences_of_different_lengths_keep_their_solo_greedy_tokens(string architecture)
    {
        using var dir = TinyCheckpoint.WriteTemporary(TinyModelOptions.For(architecture));
        using var model = ModelShard.Load(dir.Path, options: Bf16Cache);
        int[][] prompts = [TestTokens.Sequence(3, seed: 1), TestTokens.Sequence(11, seed: 2), TestTokens.Sequence(6, seed: 3)];
        const int Steps = 10;
        var solo = prompts.Select(p => Greedy(model, [p], Steps)[0]).ToArray();
        var batched = Greedy(model, prompts, Steps);
        for (var s = 0; s < prompts.Length; s++)
        {
            Assert.True(solo[s].SequenceEqual(batched[s]),
                $"{architecture} sequence {s}: alone [{string.Join(", ", solo[s])}], batched [{string.Join(", ", batched[s])}]");
        }
    }

    [Fact]
    public void A_cache_dtype_that_does_not_fit_the_activations_fails_naming_the_option()
    {
        var error = Assert.Throws<ArgumentException>(() => ComputePlacement.Resolve(new EngineOptions { Device = "cpu", DType = "bfloat16", KvCacheDType = "float32" }));
        Assert.Contains("KvCacheDType \"float32\"", error.Message);
        error = Assert.Throws<ArgumentException>(() => ComputePlacement.Resolve(new EngineOptions { Device = "cpu", KvCacheDType = "fp8" }));
        Assert.Contains("KvCacheDType \"fp8\" is not one of auto, float32, bfloat16", error.Message);
    }

    [Fact]
    public void Greedy_drift_from_an_fp32_cache_on_the_shipped_model_is_only_at_small_margins()
    {
        const double SureMargin = 1.0; // logits
        var tokenizer = CheckpointTokenizer.Load(RepositoryFiles.DefaultModel);
        using var fp32 = ModelShard.Load(RepositoryFiles.DefaultModel, options: Fp32);
        using var bf16 = ModelShard.Load(RepositoryFiles.DefaultModel, options: Bf16Cache);
        var drift = GreedyDrift.Measure(fp32, bf16, tokenizer.Encode("And God said unto"), steps: 64);
        output.WriteLine($"bf16 KV cache vs fp32, greedy, teacher-forced: {drift}");
        Assert.True(drift.Flips.All(f => f.Margin < SureMargin),
            $"The bf16 cache flipped a step where fp32's is sure (margin ≥ {SureMargin} logits): a cache bug, not rounding. {drift}");
        Assert.True(drift.MaxDeviation < SureMargin / 2, $"Logits over the bf16 cache deviate from fp32's by more than bf16 rounding explains ({SureMargin / 2}): {drift}");
    }

    /// <summary>Greedy decoding of every prompt together, one step for all per forward; each sequence's new tokens.</summary>
    private static int[][] Greedy(ModelShard model, int[][] prompts, int steps)
    {
        var caches = prompts.Select(_ => model.CreateCache()).ToArray();
        try
        {
            var tokens = prompts.Select(_ => new List<int>()).ToArray();
            var chunks = prompts.Select((p, i) => SequenceChunk.ForTokens(caches[i], 0, p)).ToList();
            for (var step = 0; step < steps; step++)
            {
                using var scope = torch.NewDisposeScope();
                var next = TensorAssert.ArgMaxPerRow(model.Forward(chunks)); // (N)
                for (var i = 0; i < prompts.Length; i++)
                {
                    tokens[i].Add(next[i]);
                }
                chunks = prompts.Select((_, i) => SequenceChunk.Continue(caches[i], [next[i]])).ToList();
            }
            return tokens.Select(t => t.ToArray()).ToArray();
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
