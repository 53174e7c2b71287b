using System.Runtime.CompilerServices;
using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>
/// Where one single-token query of a decode step reads and writes, for one layer. All pointers are host memory, fp32
/// except the cache when <paramref name="BFloat16Cache"/> is set.
/// </summary>
/// <param name="Query">The token's rotated queries, (nHeads, headDim), contiguous.</param>
/// <param name="NewKey">The token's rotated keys, (nKv, headDim), contiguous.</param>
/// <param name="NewValue">The token's values, (nKv, headDim), contiguous.</param>
/// <param name="Keys">This layer's key cache, (nKv, capacity, headDim), contiguous.</param>
/// <param name="Values">This layer's value cache, (nKv, capacity, headDim), contiguous.</param>
/// <param name="Capacity">Positions the cache holds per KV head (its row stride between heads).</param>
/// <param name="Position">The token's position: its key and value are written there, and it attends to [0, Position].</param>
/// <param name="Output">Where the attended values go, (nHeads, headDim), contiguous.</param>
/// <param name="BFloat16Cache">
/// The cache holds bf16 (raw bits): the new key and value are rounded to bf16 (to nearest, ties to even, as libtorch
/// converts) when written, and every cached element is widened to fp32 (exactly) when read; the arithmetic is fp32's.
/// </param>
public readonly record struct DecodeAttentionSequence(
    nint Query, nint NewKey, nint NewValue, nint Keys, nint Values, int Capacity, int Position, nint Output, bool BFloat16Cache = false);

/// <summary>
/// Decode attention: every sequence of a step adds one token, whose queries attend over that sequence's whole KV cache.
/// One call per layer serves all the step's decode tokens, in place on each cache, instead of one libtorch
/// scaled-dot-product call (and its cache write, views and copies) per sequence.
/// </summary>
/// <remarks>
/// Per (sequence, KV head) work item: write the new key and value at <see cref="DecodeAttentionSequence.Position"/>, then
/// for each of the g = nHeads / nKv query heads that share this KV head (grouped-query attention, query head h reads KV
/// head h / g, as the engine's libtorch path does), scores s_j = q·k_j / √headDim over j = 0..Position, softmax in fp32
/// with the max subtracted, and the output Σ_j exp(s_j − max)·v_j / Σ_j exp(s_j − max). The items are split over the
/// shared <see cref="KernelTeam"/> (the .NET thread pool's hand-offs cost more than a layer's attention at small batches)
/// one item at a time (<see cref="WorkChunks"/>), so a 32-sequence step's attention uses both cores; each item is
/// computed by one thread in the same order either way, so results do not depend on the split. Vector512 where the
/// hardware has it, Vector256 next, scalar otherwise (and for tails of a head dimension that is not a multiple of the
/// vector width).
/// </remarks>
public static unsafe class DecodeAttention
{
    /// <summary>
    /// How far ahead (4 KB: 16 positions of a 64-wide fp32 head) the score and weighted-sum loops ask for the cache
    /// into L2. At 32 sequences a step's attention reads every cache from memory (303 MB at 129 positions);
    /// the profile's attention at 32 sequences, bf16 weights, alternating: 14.3 / 13.6 ms without, 13.2 / 12.7 with
    /// 4 KB, 13.6 / 10.0 with 2 KB, 14.4 / 13.0 with 8 KB (docs/PERFORMANCE.md, 7 December).
    /// </summary>
    private const int PrefetchBytes = 4096;

    /// <summary>Tests turn this off to check the scalar path on hardware that has vectors.</summary>
    internal static bool UseVectors { get; set; } = true;

    /// <summary>
    /// Bytes of keys (and of values) a group's query heads read together before moving on: 16 KB stays in L1 while
    /// every head of the group reads it, where one head at a time over a whole cache read it from L2 or memory once
    /// per head (see <see cref="AttendItem{TC}"/>).
    /// </summary>
    private const int GroupBlockBytes = 16 * 1024;

    /// <summary>Off: each head over the whole cache in one block; tests hold the blocks to that order's bits.</summary>
    internal static bool UseGroupBlocks { get; set; } = true;

    /// <summary>Attends every sequence's new token for one layer; see the type's remarks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    /// <param name="team">The threads to split the work over; the shared team when null.</param>
    public static void Run(ReadOnlySpan<DecodeAttentionSequence> sequences, int heads, int kvHeads, int headDim, KernelTeam? team = null)
    {
        if (heads < 1 || kvHeads < 1 || heads % kvHeads != 0)
        {
            throw new ArgumentException($"Attention heads ({heads}) must be a positive multiple of the KV heads ({kvHeads}).", nameof(heads));
        }
        if (headDim < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "The head dimension must be at least 1.");
        }
        for (var s = 0; s < sequences.Length; s++)
        {
            var sequence = sequences[s];
            if (sequence.Position < 0 || sequence.Position >= sequence.Capacity)
            {
                throw new ArgumentOutOfRangeException(nameof(sequences),
                    $"Sequence {s} writes position {sequence.Position}, outside its cache's capacity of {sequence.Capacity} positions.");
            }
        }

        fixed (DecodeAttentionSequence* all = sequences)
        {
            var job = new Job { Sequences = all, Count = sequences.Length, KvHeads = kvHeads, Group = heads / kvHeads, HeadDim = headDim };
            var total = job.SumOfWork(); // how many parts are worth waking
            var runner = team ?? KernelTeam.Shared;
            var parts = (int)Math.Clamp(total / MinimumWorkPerPart, 1, Math.Min(runner.Threads, sequences.Length * kvHeads));
            var scratch = stackalloc byte[WorkChunks.ScratchBytes(parts)];
            job.Items = WorkChunks.Create(scratch, sequences.Length * kvHeads, parts);
            runner.Run(&RunPart, &job, parts);
        }
    }

    // Multiply-adds below which waking the team (a few µs) costs more than it saves: ~20 µs of work.
    private const long MinimumWorkPerPart = 64 * 1024;

    private struct Job
    {
        public DecodeAttentionSequence* Sequences;
        public int Count, KvHeads, Group, HeadDim;

        /// <summary>The items (sequence × KV head), handed to the parts one at a time.</summary>
        public WorkChunks Items;

        /// <summary>Multiply-adds of item <paramref name="item"/> (sequence item / KvHeads): scores and values over its cache.</summary>
        public readonly long Work(int item) => 2L * (Sequences[item / KvHeads].Position + 1) * Group * HeadDim;

        /// <summary>Multiply-adds of all items.</summary>
        public readonly long SumOfWork()
        {
            var total = 0L;
            for (var item = 0; item < Count * KvHeads; item++)
            {
                total += Work(item);
            }
            return total;
        }
    }

    /// <summary>
    /// Part <paramref name="part"/> of <paramref name="parts"/>: claims items until none is left (its own share first;
    /// <see cref="WorkChunks"/>), so parts end together even when cache lengths, and so items, differ in size.
    /// </summary>
    private static void RunPart(void* state, int part, int parts)
    {
        ref var job = ref *(Job*)state;
        var cursor = 0;
        while (job.Items.TryClaim(part, ref cursor, out var item))
        {
            AttendItem(job.Sequences[item / job.KvHeads], item % job.KvHeads, job.Group, job.HeadDim);
        }
    }

    private static void AttendItem(in DecodeAttentionSequence sequence, int kvHead, int group, int headDim)
    {
        if (sequence.BFloat16Cache)
        {
            AttendItem<BFloat16Weights>(sequence, kvHead, group, headDim);
        }
        else
        {
            AttendItem<Float32Weights>(sequence, kvHead, group, headDim);
        }
    }

    /// <typeparam name="TC">How the cache stores its elements: fp32 or bf16 (the weight formats' loads serve it).</typeparam>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static void AttendItem<TC>(in DecodeAttentionSequence sequence, int kvHead, int group, int headDim) where TC : IWeightFormat
    {
        var length = sequence.Position + 1;
        var rowBytes = (long)headDim * TC.ElementSize;
        var keys = (byte*)sequence.Keys + kvHead * sequence.Capacity * rowBytes;     // (capacity, headDim)
        var values = (byte*)sequence.Values + kvHead * sequence.Capacity * rowBytes; // (capacity, headDim)
        Store<TC>((float*)sequence.NewKey + (long)kvHead * headDim, keys + sequence.Position * rowBytes, headDim);
        Store<TC>((float*)sequence.NewValue + (long)kvHead * headDim, values + sequence.Position * rowBytes, headDim);

        // libtorch's default scale, 1/√E computed in double and applied in fp32.
        var scale = (float)(1.0 / Math.Sqrt(headDim));
        // The g query heads of a grouped-query KV head (g > 1) take the cache a block of keys (then of values) at a
        // time, every head over the block while it is in L1, instead of each head streaming the whole cache on its own;
        // one head, or the blocks turned off, is one block over the whole cache. Either way the same operations in the
        // same order for each head, so the same bits: each score is one key's dot product (blocks hold a multiple of 4
        // keys, so every key takes the path Scores gives it over the whole length), the maximum and the exponentials
        // are per head over all scores, and each output element's sum over the keys runs in key order, its partial sum
        // kept in the output between blocks.
        var blockKeys = group > 1 && UseGroupBlocks ? Math.Max(4, (int)(GroupBlockBytes / rowBytes) / 4 * 4) : length;
        var rented = ArrayPool<float>.Shared.Rent(group * length + group);
        try
        {
            fixed (float* all = rented)
            {
                var scores = all;                  // (g, length)
                var maxima = all + group * length; // (g), then each head's normalizer
                for (var r = 0; r < group; r++)
                {
                    maxima[r] = float.NegativeInfinity;
                }
                for (var first = 0; first < length; first += blockKeys)
                {
                    var count = Math.Min(blockKeys, length - first);
                    for (var r = 0; r < group; r++)
                    {
                        var query = (float*)sequence.Query + (long)(kvHead * group + r) * headDim;
                        var max = Scores<TC>(query, keys + first * rowBytes, count, headDim, scale, scores + r * length + first);
                        maxima[r] = MathF.Max(maxima[r], max);
                    }
                }
                for (var r = 0; r < group; r++)
                {
                    maxima[r] = 1f / Exponentiate(scores + r * length, length, maxima[r]);
                }
                for (var first = 0; first < length; first += blockKeys)
                {
                    var count = Math.Min(blockKeys, length - first);
                    for (var r = 0; r < group; r++)
                    {
                        var output = (float*)sequence.Output + (long)(kvHead * group + r) * headDim;
                        WeightedSum<TC>(scores + r * length + first, values + first * rowBytes, count, headDim, output, accumulate: first > 0);
                    }
                }
                for (var r = 0; r < group; r++)
                {
                    Scale((float*)sequence.Output + (long)(kvHead * group + r) * headDim, maxima[r], headDim);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Writes <paramref name="count"/> fp32 values into the cache row at <paramref name="target"/>, rounded to bf16 for a bf16 cache.</summary>
    private static void Store<TC>(float* source, byte* target, int count) where TC : IWeightFormat
    {
        if (typeof(TC) == typeof(Float32Weights))
        {
            new ReadOnlySpan<float>(source, count).CopyTo(new Span<float>(target, count));
            return;
        }
        var bits = (ushort*)target;
        for (var i = 0; i < count; i++)
        {
            bits[i] = BFloat16Weights.Round(source[i]);
        }
    }

    /// <summary>
    /// scores[j] = q·k_j · scale for j = 0..length-1; returns their maximum. With AVX-512 and a head dimension that is a
    /// multiple of 16, four keys at a time: four accumulators, then one combined horizontal reduction of the four
    /// (<see cref="HorizontalSums.Four"/>). The last length % 4 keys go through <see cref="Dot"/>. Which path a key
    /// takes depends only on its index and the length, never on the other sequences of the step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static float Scores<TC>(float* query, byte* keys, int length, int headDim, float scale, float* scores) where TC : IWeightFormat
    {
        var es = TC.ElementSize;
        var max = float.NegativeInfinity;
        var j = 0;
        if (UseVectors && Avx512F.IsSupported && headDim % 16 == 0)
        {
            for (; j + 4 <= length; j += 4)
            {
                var k0 = keys + (long)j * headDim * es;
                byte* k1 = k0 + headDim * es, k2 = k0 + 2 * headDim * es, k3 = k0 + 3 * headDim * es;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (var d = 0; d < headDim; d += 16)
                {
                    var offset = d * es;
                    Sse.Prefetch1(k0 + offset + PrefetchBytes);
                    Sse.Prefetch1(k1 + offset + PrefetchBytes);
                    Sse.Prefetch1(k2 + offset + PrefetchBytes);
                    Sse.Prefetch1(k3 + offset + PrefetchBytes);
                    var q = Vector512.Load(query + d);
                    a0 = Vector512.FusedMultiplyAdd(q, TC.Load512(k0 + offset), a0);
                    a1 = Vector512.FusedMultiplyAdd(q, TC.Load512(k1 + offset), a1);
                    a2 = Vector512.FusedMultiplyAdd(q, TC.Load512(k2 + offset), a2);
                    a3 = Vector512.FusedMultiplyAdd(q, TC.Load512(k3 + offset), a3);
                }
                var four = HorizontalSums.Four(a0, a1, a2, a3) * scale; // (q·k_j … q·k_j+3) · scale
                four.Store(scores + j);
                max = MathF.Max(max, MathF.Max(MathF.Max(four.GetElement(0), four.GetElement(1)), MathF.Max(four.GetElement(2), four.GetElement(3))));
            }
        }
        for (; j < length; j++)
        {
            var score = Dot<TC>(query, keys + (long)j * headDim * es, headDim) * scale;
            scores[j] = score;
            max = MathF.Max(max, score);
        }
        return max;
    }

    /// <summary>Σ a_i·b_i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static float Dot<TC>(float* a, byte* b, int n) where TC : IWeightFormat
    {
        var es = TC.ElementSize;
        var i = 0;
        var sum = 0f;
        if (UseVectors && Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            var acc = Vector512<float>.Zero;
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), TC.Load512(b + (long)i * es), acc);
            }
            sum = Vector512.Sum(acc);
        }
        else if (UseVectors && Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), TC.Load256(b + (long)i * es), acc);
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
        {
            sum = MathF.FusedMultiplyAdd(a[i], TC.LoadScalar(b + (long)i * es), sum);
        }
        return sum;
    }

    /// <summary>x_j ← exp(x_j − max) in place; returns Σ_j of the new values (accumulated in fp32, as libtorch does).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static float Exponentiate(float* x, int n, float max)
    {
        var i = 0;
        var sum = 0f;
        if (UseVectors && Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            var shift = Vector512.Create(max);
            var acc = Vector512<float>.Zero;
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                var e = Vector512.Exp(Vector512.Load(x + i) - shift);
                e.Store(x + i);
                acc += e;
            }
            sum = Vector512.Sum(acc);
        }
        for (; i < n; i++)
        {
            x[i] = MathF.Exp(x[i] - max);
            sum += x[i];
        }
        return sum;
    }

    /// <summary>
    /// output = Σ_j w_j·v_j over j = 0..length-1, each element summed in j order with one fused multiply-add per key.
    /// 64 columns at a time are kept in four registers across all the keys (a head's output is written once, not read
    /// and written back per key); the columns past the last block of 64 go through <see cref="MultiplyAdd"/>, in the
    /// same order, so every element is the same sum either way.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    /// <param name="accumulate">Continue the sums already in <paramref name="output"/> (a later block of keys) instead of starting at 0.</param>
    private static void WeightedSum<TC>(float* weights, byte* values, int length, int headDim, float* output, bool accumulate = false) where TC : IWeightFormat
    {
        var es = TC.ElementSize;
        var rowBytes = (long)headDim * es;
        var column = 0;
        if (UseVectors && Vector512.IsHardwareAccelerated)
        {
            for (; column + 64 <= headDim; column += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                if (accumulate)
                {
                    a0 = Vector512.Load(output + column);
                    a1 = Vector512.Load(output + column + 16);
                    a2 = Vector512.Load(output + column + 32);
                    a3 = Vector512.Load(output + column + 48);
                }
                var v = values + column * es;
                for (var j = 0; j < length; j++, v += rowBytes)
                {
                    Sse.Prefetch1(v + PrefetchBytes); // the 64 columns' 256 (fp32) or 128 (bf16) bytes
                    Sse.Prefetch1(v + PrefetchBytes + 64);
                    if (es == 4)
                    {
                        Sse.Prefetch1(v + PrefetchBytes + 128);
                        Sse.Prefetch1(v + PrefetchBytes + 192);
                    }
                    var w = Vector512.Create(weights[j]);
                    a0 = Vector512.FusedMultiplyAdd(TC.Load512(v), w, a0);
                    a1 = Vector512.FusedMultiplyAdd(TC.Load512(v + 16 * es), w, a1);
                    a2 = Vector512.FusedMultiplyAdd(TC.Load512(v + 32 * es), w, a2);
                    a3 = Vector512.FusedMultiplyAdd(TC.Load512(v + 48 * es), w, a3);
                }
                a0.Store(output + column);
                a1.Store(output + column + 16);
                a2.Store(output + column + 32);
                a3.Store(output + column + 48);
            }
        }
        var rest = headDim - column;
        if (rest == 0)
        {
            return;
        }
        if (!accumulate)
        {
            new Span<float>(output + column, rest).Clear();
        }
        for (var j = 0; j < length; j++)
        {
            MultiplyAdd<TC>(output + column, weights[j], values + j * rowBytes + column * es, rest);
        }
    }

    /// <summary>y ← y + a·x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static void MultiplyAdd<TC>(float* y, float a, byte* x, int n) where TC : IWeightFormat
    {
        var es = TC.ElementSize;
        var i = 0;
        if (UseVectors && Vector512.IsHardwareAccelerated)
        {
            var scale = Vector512.Create(a);
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                Vector512.FusedMultiplyAdd(TC.Load512(x + (long)i * es), scale, Vector512.Load(y + i)).Store(y + i);
            }
        }
        else if (UseVectors && Vector256.IsHardwareAccelerated)
        {
            var scale = Vector256.Create(a);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                Vector256.FusedMultiplyAdd(TC.Load256(x + (long)i * es), scale, Vector256.Load(y + i)).Store(y + i);
            }
        }
        for (; i < n; i++)
        {
            y[i] = MathF.FusedMultiplyAdd(a, TC.LoadScalar(x + (long)i * es), y[i]);
        }
    }

    /// <summary>y ← a·y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static void Scale(float* y, float a, int n)
    {
        var i = 0;
        if (UseVectors && Vector512.IsHardwareAccelerated)
        {
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                (Vector512.Load(y + i) * a).Store(y + i);
            }
        }
        for (; i < n; i++)
        {
            y[i] *= a;
        }
    }
}
