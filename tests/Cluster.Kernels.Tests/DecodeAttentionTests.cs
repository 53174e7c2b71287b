using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Kernels.Tests;

/// <summary>
/// The decode-attention kernel against libtorch's scaled_dot_product_attention on the same cache contents: random
/// head counts (grouped-query included), head dimensions and cache lengths that are not multiples of the vector width,
/// length 1, many sequences of different lengths in one call; both the vector and the scalar code; fp32 and bf16 caches.
/// </summary>
public sealed class DecodeAttentionTests
{
    // fp32 sums over at most a few hundred terms, in a different order than libtorch's: a few ulp of values of order 1.
    private const float Tolerance = 2e-5f;

    public static TheoryData<int, int, int, int[]> Shapes => new()
    {
        { 1, 1, 1, [1] },
        { 4, 4, 16, [1, 2] },
        { 8, 2, 20, [1, 17, 33] },
        { 6, 3, 7, [31, 1, 2] },
        { 12, 12, 64, [129, 5, 64] },
        { 8, 1, 24, [70] },
        { 8, 4, 64, Enumerable.Range(0, 24).Select(i => 100 + 13 * i).ToArray() }, // many sequences, different lengths
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Matches_libtorch_attention_and_writes_the_new_token_into_the_cache(int heads, int kvHeads, int headDim, int[] lengths) =>
        CheckAgainstLibtorch(heads, kvHeads, headDim, lengths, seed: heads * 1000 + headDim);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Scalar_path_matches_libtorch_attention(int heads, int kvHeads, int headDim, int[] lengths)
    {
        DecodeAttention.UseVectors = false;
        try
        {
            CheckAgainstLibtorch(heads, kvHeads, headDim, lengths, seed: heads * 1000 + headDim + 1);
        }
        finally
        {
            DecodeAttention.UseVectors = true;
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Splitting_the_items_over_threads_gives_bit_identical_outputs(int threads)
    {
        // 32 sequences of different lengths: enough work for every part; each item is one thread's, in one order.
        var lengths = Enumerable.Range(0, 32).Select(i => 40 + 29 * i).ToArray();
        using var one = new KernelTeam(1);
        using var many = new KernelTeam(threads);
        var alone = RunOnce(12, 4, 64, lengths, seed: 7, one);
        var split = RunOnce(12, 4, 64, lengths, seed: 7, many);
        for (var i = 0; i < alone.Length; i++)
        {
            Assert.True(alone[i] == split[i], $"Output {i} of {alone.Length}: one thread gave {alone[i]}, {threads} threads gave {split[i]}.");
        }
    }

    public static TheoryData<int, int, int, int[], bool> GroupedShapes => new()
    {
        // (heads, KV heads, head dim, cache lengths, bf16 cache): lengths below, at and past one block of keys (64 fp32
        // rows of 64, 128 bf16 rows of 64), a head dim with a scalar tail (80) and one past a block of columns (128).
        { 8, 2, 64, [1, 3, 63, 64, 65, 200], false },
        { 8, 2, 64, [1, 127, 128, 129, 300], true },
        { 12, 4, 80, [70, 190, 5], false },
        { 6, 2, 128, [33, 150], true },
        { 14, 2, 64, [700], false },
    };

    /// <summary>
    /// The grouped path (every query head of a KV head over a block of keys at a time) is the one-head-at-a-time path
    /// in another loop order, so it must give its bits exactly, on the vector and the scalar code.
    /// </summary>
    [Theory]
    [MemberData(nameof(GroupedShapes))]
    public void Grouped_heads_over_blocks_of_keys_give_the_bits_of_one_head_at_a_time(int heads, int kvHeads, int headDim, int[] lengths, bool bfloat16)
    {
        using var team = new KernelTeam(1);
        foreach (var vectors in new[] { true, false })
        {
            DecodeAttention.UseVectors = vectors;
            try
            {
                var grouped = RunOnce(heads, kvHeads, headDim, lengths, seed: 11, team, bfloat16);
                DecodeAttention.UseGroupBlocks = false;
                var oneByOne = RunOnce(heads, kvHeads, headDim, lengths, seed: 11, team, bfloat16);
                var differing = Enumerable.Range(0, grouped.Length).Where(i => grouped[i] != oneByOne[i]).ToList();
                Assert.True(differing.Count == 0,
                    $"{(vectors ? "vector" : "scalar")} path, {(bfloat16 ? "bf16" : "fp32")} cache: {differing.Count} of {grouped.Length} outputs differ, " +
                    $"first at {differing.FirstOrDefault()}: grouped {grouped[differing.FirstOrDefault()]}, one head at a time {oneByOne[differing.FirstOrDefault()]}");
            }
            finally
            {
                DecodeAttention.UseVectors = true;
                DecodeAttention.UseGroupBlocks = true;
            }
        }
    }

    /// <summary>
    /// Random caches and tokens from <paramref name="seed"/>, attended on <paramref name="team"/>; returns the outputs.
    /// A bf16 cache holds the random values' top 16 bits.
    /// </summary>
    private static float[] RunOnce(int heads, int kvHeads, int headDim, int[] lengths, int seed, KernelTeam team, bool bfloat16 = false)
    {
        var random = new Random(seed);
        float[] Randoms(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var n = lengths.Length;
        var caches = lengths.Select(l => (Keys: Randoms(kvHeads * l * headDim), Values: Randoms(kvHeads * l * headDim))).ToArray(); // (nKv, l, headDim)
        var (queries, newKeys, newValues) = (Randoms(n * heads * headDim), Randoms(n * kvHeads * headDim), Randoms(n * kvHeads * headDim));
        var output = new float[n * heads * headDim];
        using var pins = new Pins();
        var (q, k, v, o) = (pins.Pin(queries), pins.Pin(newKeys), pins.Pin(newValues), pins.Pin(output));
        nint Cache(float[] values) => bfloat16
            ? pins.Pin(values.Select(x => (ushort)(BitConverter.SingleToUInt32Bits(x) >> 16)).ToArray())
            : pins.Pin(values);
        var sequences = Enumerable.Range(0, n).Select(s => new DecodeAttentionSequence(
            q + s * heads * headDim * sizeof(float), k + s * kvHeads * headDim * sizeof(float), v + s * kvHeads * headDim * sizeof(float),
            Cache(caches[s].Keys), Cache(caches[s].Values), lengths[s], lengths[s] - 1, o + s * heads * headDim * sizeof(float), bfloat16)).ToArray();
        DecodeAttention.Run(sequences, heads, kvHeads, headDim, team);
        return output;
    }

    [Fact]
    public void A_position_outside_the_cache_is_refused_with_the_values()
    {
        var buffer = new float[64];
        var handle = GCHandle.Alloc(buffer, GCHandleType.Pinned);
        try
        {
            var p = handle.AddrOfPinnedObject();
            var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
                DecodeAttention.Run([new DecodeAttentionSequence(p, p, p, p, p, Capacity: 4, Position: 4, p)], 1, 1, 4));
            Assert.Contains("position 4", error.Message);
            Assert.Contains("capacity of 4", error.Message);
        }
        finally
        {
            handle.Free();
        }
    }

    private static void CheckAgainstLibtorch(int heads, int kvHeads, int headDim, int[] lengths, int seed)
    {
        var random = new Random(seed);
        float[] Randoms(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var n = lengths.Length;
        var capacities = lengths.Select(l => l + 1 + random.Next(9)).ToArray(); // room beyond the token, never a round number
        var keyCaches = capacities.Select(c => Randoms(kvHeads * c * headDim)).ToArray();   // (nKv, capacity, headDim) each
        var valueCaches = capacities.Select(c => Randoms(kvHeads * c * headDim)).ToArray();
        var originalKeys = keyCaches.Select(c => (float[])c.Clone()).ToArray();
        var originalValues = valueCaches.Select(c => (float[])c.Clone()).ToArray();
        var queries = Randoms(n * heads * headDim);  // (N, nHeads, headDim)
        var newKeys = Randoms(n * kvHeads * headDim); // (N, nKv, headDim)
        var newValues = Randoms(n * kvHeads * headDim);
        var output = new float[n * heads * headDim];  // (N, nHeads, headDim)

        using var pins = new Pins();
        var (q, k, v, o) = (pins.Pin(queries), pins.Pin(newKeys), pins.Pin(newValues), pins.Pin(output));
        var sequences = new DecodeAttentionSequence[n];
        for (var s = 0; s < n; s++)
        {
            sequences[s] = new DecodeAttentionSequence(
                q + s * heads * headDim * sizeof(float), k + s * kvHeads * headDim * sizeof(float), v + s * kvHeads * headDim * sizeof(float),
                pins.Pin(keyCaches[s]), pins.Pin(valueCaches[s]), capacities[s], lengths[s] - 1, o + s * heads * headDim * sizeof(float));
        }
        DecodeAttention.Run(sequences, heads, kvHeads, headDim);

        var group = heads / kvHeads;
        for (var s = 0; s < n; s++)
        {
            var (length, capacity) = (lengths[s], capacities[s]);
            using var scope = torch.NewDisposeScope();
            // The cache as the kernel should have left it: the original with the new token at position length-1.
            var expectedKeys = torch.tensor(originalKeys[s], [kvHeads, capacity, headDim]);     // (nKv, capacity, headDim)
            var expectedValues = torch.tensor(originalValues[s], [kvHeads, capacity, headDim]);
            expectedKeys.narrow(1, length - 1, 1).copy_(torch.tensor(newKeys.AsSpan(s * kvHeads * headDim, kvHeads * headDim).ToArray(), [kvHeads, 1, headDim]));
            expectedValues.narrow(1, length - 1, 1).copy_(torch.tensor(newValues.AsSpan(s * kvHeads * headDim, kvHeads * headDim).ToArray(), [kvHeads, 1, headDim]));
            AssertExactly(expectedKeys, keyCaches[s], $"sequence {s}'s key cache");
            AssertExactly(expectedValues, valueCaches[s], $"sequence {s}'s value cache");

            var query = torch.tensor(queries.AsSpan(s * heads * headDim, heads * headDim).ToArray(), [heads, 1, headDim]); // (nHeads, 1, headDim)
            var keys = expectedKeys.narrow(1, 0, length).repeat_interleave(group, 0);     // (nHeads, length, headDim): head h reads KV head h / g
            var values = expectedValues.narrow(1, 0, length).repeat_interleave(group, 0);
            var reference = nn.functional.scaled_dot_product_attention(query, keys, values); // (nHeads, 1, headDim)
            var actual = torch.tensor(output.AsSpan(s * heads * headDim, heads * headDim).ToArray(), [heads, 1, headDim]);
            var difference = (actual - reference).abs().max().item<float>();
            Assert.True(difference <= Tolerance,
                $"Sequence {s} (heads {heads}, kvHeads {kvHeads}, headDim {headDim}, length {length}): the kernel differs from libtorch by {difference} (tolerance {Tolerance}); " +
                $"first values kernel [{string.Join(", ", actual.flatten().data<float>().Take(4))}], libtorch [{string.Join(", ", reference.flatten().data<float>().Take(4))}].");
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void A_bf16_cache_holds_libtorchs_rounding_of_the_new_token_and_attends_like_libtorch_over_it(int heads, int kvHeads, int headDim, int[] lengths)
    {
        foreach (var vectors in new[] { true, false })
        {
            DecodeAttention.UseVectors = vectors;
            try
            {
                CheckBFloat16CacheAgainstLibtorch(heads, kvHeads, headDim, lengths, seed: heads * 100 + headDim, vectors ? "vector" : "scalar");
            }
            finally
            {
                DecodeAttention.UseVectors = true;
            }
        }
    }

    /// <summary>
    /// A bf16 cache (random values rounded by libtorch), fp32 queries and new tokens: the kernel must leave the cache
    /// with libtorch's bf16 of the new key and value (bit for bit) and attend like libtorch's fp32 attention over the
    /// widened cache.
    /// </summary>
    private static void CheckBFloat16CacheAgainstLibtorch(int heads, int kvHeads, int headDim, int[] lengths, int seed, string path)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(seed);
        var n = lengths.Length;
        var caches = lengths.Select(l => (Keys: torch.randn(kvHeads, l + 3, headDim).to_type(ScalarType.BFloat16),
            Values: torch.randn(kvHeads, l + 3, headDim).to_type(ScalarType.BFloat16))).ToArray(); // (nKv, capacity, headDim) bf16 each
        var keyBits = caches.Select(c => Bits(c.Keys)).ToArray();
        var valueBits = caches.Select(c => Bits(c.Values)).ToArray();
        var queries = torch.randn(n, heads, headDim);    // (N, nHeads, headDim)
        var newKeys = torch.randn(n, kvHeads, headDim);  // (N, nKv, headDim)
        var newValues = torch.randn(n, kvHeads, headDim);
        var (q, k, v) = (queries.data<float>().ToArray(), newKeys.data<float>().ToArray(), newValues.data<float>().ToArray());
        var output = new float[n * heads * headDim];
        using var pins = new Pins();
        var (qp, kp, vp, op) = (pins.Pin(q), pins.Pin(k), pins.Pin(v), pins.Pin(output));
        var sequences = Enumerable.Range(0, n).Select(s => new DecodeAttentionSequence(
            qp + s * heads * headDim * sizeof(float), kp + s * kvHeads * headDim * sizeof(float), vp + s * kvHeads * headDim * sizeof(float),
            pins.Pin(keyBits[s]), pins.Pin(valueBits[s]), lengths[s] + 3, lengths[s] - 1, op + s * heads * headDim * sizeof(float), BFloat16Cache: true)).ToArray();
        DecodeAttention.Run(sequences, heads, kvHeads, headDim);

        var group = heads / kvHeads;
        for (var s = 0; s < n; s++)
        {
            var length = lengths[s];
            var expectedKeys = caches[s].Keys.clone();     // (nKv, capacity, headDim) bf16
            var expectedValues = caches[s].Values.clone();
            expectedKeys.narrow(1, length - 1, 1).copy_(newKeys[s].unsqueeze(1));   // libtorch's rounding to bf16
            expectedValues.narrow(1, length - 1, 1).copy_(newValues[s].unsqueeze(1));
            foreach (var (what, expected, actual) in new[] { ("key", expectedKeys, keyBits[s]), ("value", expectedValues, valueBits[s]) })
            {
                var bits = Bits(expected);
                var first = Enumerable.Range(0, bits.Length).FirstOrDefault(i => bits[i] != actual[i], -1);
                Assert.True(first < 0, $"{path}: sequence {s}'s {what} cache differs at flat index {first}: libtorch's bf16 bits {bits[Math.Max(first, 0)]:X4}, the kernel left {actual[Math.Max(first, 0)]:X4}.");
            }
            var keys = expectedKeys.narrow(1, 0, length).to_type(ScalarType.Float32).repeat_interleave(group, 0); // (nHeads, length, headDim)
            var values = expectedValues.narrow(1, 0, length).to_type(ScalarType.Float32).repeat_interleave(group, 0);
            var reference = nn.functional.scaled_dot_product_attention(queries[s].unsqueeze(1), keys, values); // (nHeads, 1, headDim)
            var actualOutput = torch.tensor(output.AsSpan(s * heads * headDim, heads * headDim).ToArray(), [heads, 1, headDim]);
            var difference = (actualOutput - reference).abs().max().item<float>();
            Assert.True(difference <= Tolerance,
                $"{path}: sequence {s} (heads {heads}, kvHeads {kvHeads}, headDim {headDim}, length {length}): the kernel differs from libtorch over the bf16 cache by {difference} (tolerance {Tolerance}).");
        }
    }

    /// <summary>Arrays pinned for a kernel call, freed together.</summary>
    private sealed class Pins : IDisposable
    {
        private readonly List<GCHandle> _handles = [];

        public nint Pin(Array array)
        {
            var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
            _handles.Add(handle);
            return handle.AddrOfPinnedObject();
        }

        public void Dispose() => _handles.ForEach(h => h.Free());
    }

    /// <summary>A bf16 tensor's raw bits, row-major.</summary>
    private static unsafe short[] Bits(Tensor bf16)
    {
        var packed = bf16.contiguous();
        return new ReadOnlySpan<short>(Cluster.Engine.Model.TensorMemory.Address(packed), (int)packed.numel()).ToArray();
    }

    private static void AssertExactly(Tensor expected, float[] actual, string what)
    {
        var values = expected.flatten().data<float>().ToArray();
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i] != actual[i])
            {
                Assert.Fail($"{what} differs at flat index {i}: expected {values[i]}, the kernel left {actual[i]}.");
            }
        }
    }
}
