using System.Runtime.CompilerServices;
using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Cluster.Kernels;

/// <summary>
/// Where one single-token query of a decode step reads and writes, for one layer. All pointers are fp32 host memory.
/// </summary>
/// <param name="Query">The token's rotated queries, (nHeads, headDim), contiguous.</param>
/// <param name="NewKey">The token's rotated keys, (nKv, headDim), contiguous.</param>
/// <param name="NewValue">The token's values, (nKv, headDim), contiguous.</param>
/// <param name="Keys">This layer's key cache, (nKv, capacity, headDim), contiguous.</param>
/// <param name="Values">This layer's value cache, (nKv, capacity, headDim), contiguous.</param>
/// <param name="Capacity">Positions the cache holds per KV head (its row stride between heads).</param>
/// <param name="Position">The token's position: its key and value are written there, and it attends to [0, Position].</param>
/// <param name="Output">Where the attended values go, (nHeads, headDim), contiguous.</param>
public readonly record struct DecodeAttentionSequence(
    nint Query, nint NewKey, nint NewValue, nint Keys, nint Values, int Capacity, int Position, nint Output);

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
/// in contiguous runs of about equal cache length, so a 32-sequence step's attention uses both cores; each item is
/// computed by one thread in the same order either way, so results do not depend on the split. Vector512 where the
/// hardware has it, Vector256 next, scalar otherwise (and for tails of a head dimension that is not a multiple of the
/// vector width).
/// </remarks>
public static unsafe class DecodeAttention
{
    /// <summary>Tests turn this off to check the scalar path on hardware that has vectors.</summary>
    internal static bool UseVectors { get; set; } = true;

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
            job.Total = job.SumOfWork(); // once, here: every part splits the same total
            var runner = team ?? KernelTeam.Shared;
            var parts = (int)Math.Clamp(job.Total / MinimumWorkPerPart, 1, Math.Min(runner.Threads, sequences.Length * kvHeads));
            runner.Run(&RunPart, &job, parts);
        }
    }

    // Multiply-adds below which waking the team (a few µs) costs more than it saves: ~20 µs of work.
    private const long MinimumWorkPerPart = 64 * 1024;

    private struct Job
    {
        public DecodeAttentionSequence* Sequences;
        public int Count, KvHeads, Group, HeadDim;

        /// <summary>Multiply-adds of all items: <see cref="SumOfWork"/>, computed by the caller before the parts run.</summary>
        public long Total;

        /// <summary>Multiply-adds of item <paramref name="item"/> (sequence item / KvHeads): scores and values over its cache.</summary>
        public readonly long Work(int item) => 2L * (Sequences[item / KvHeads].Position + 1) * Group * HeadDim;

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

    /// <summary>Part <paramref name="part"/> of <paramref name="parts"/>: the items whose work starts in its equal share of the total.</summary>
    private static void RunPart(void* state, int part, int parts)
    {
        ref var job = ref *(Job*)state;
        var (from, to) = (job.Total * part / parts, job.Total * (part + 1) / parts);
        var done = 0L;
        for (var item = 0; item < job.Count * job.KvHeads; item++)
        {
            if (done >= from && done < to)
            {
                AttendItem(job.Sequences[item / job.KvHeads], item % job.KvHeads, job.Group, job.HeadDim);
            }
            done += job.Work(item);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static void AttendItem(in DecodeAttentionSequence sequence, int kvHead, int group, int headDim)
    {
        var length = sequence.Position + 1;
        var keys = (float*)sequence.Keys + (long)kvHead * sequence.Capacity * headDim;     // (capacity, headDim)
        var values = (float*)sequence.Values + (long)kvHead * sequence.Capacity * headDim; // (capacity, headDim)
        new ReadOnlySpan<float>((float*)sequence.NewKey + (long)kvHead * headDim, headDim)
            .CopyTo(new Span<float>(keys + (long)sequence.Position * headDim, headDim));
        new ReadOnlySpan<float>((float*)sequence.NewValue + (long)kvHead * headDim, headDim)
            .CopyTo(new Span<float>(values + (long)sequence.Position * headDim, headDim));

        // libtorch's default scale, 1/√E computed in double and applied in fp32.
        var scale = (float)(1.0 / Math.Sqrt(headDim));
        var rented = ArrayPool<float>.Shared.Rent(length);
        try
        {
            fixed (float* scores = rented)
            {
                for (var r = 0; r < group; r++)
                {
                    var head = kvHead * group + r;
                    var query = (float*)sequence.Query + (long)head * headDim;
                    var output = (float*)sequence.Output + (long)head * headDim;
                    var max = Scores(query, keys, length, headDim, scale, scores);
                    var sum = Exponentiate(scores, length, max);
                    WeightedSum(scores, values, length, headDim, output);
                    Scale(output, 1f / sum, headDim);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// scores[j] = q·k_j · scale for j = 0..length-1; returns their maximum. With AVX-512 and a head dimension that is a
    /// multiple of 16, four keys at a time: four accumulators, then one combined horizontal reduction of the four
    /// (unpack, add, shuffle, add, then the four 128-bit lanes) instead of four separate ones, which cost more than the
    /// multiply-adds at a head dimension of 64. The last length % 4 keys go through <see cref="Dot"/>. Which path a key
    /// takes depends only on its index and the length, never on the other sequences of the step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static float Scores(float* query, float* keys, int length, int headDim, float scale, float* scores)
    {
        var max = float.NegativeInfinity;
        var j = 0;
        if (UseVectors && Avx512F.IsSupported && headDim % 16 == 0)
        {
            for (; j + 4 <= length; j += 4)
            {
                var k0 = keys + (long)j * headDim;
                float* k1 = k0 + headDim, k2 = k0 + 2 * headDim, k3 = k0 + 3 * headDim;
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (var d = 0; d < headDim; d += 16)
                {
                    var q = Vector512.Load(query + d);
                    a0 = Vector512.FusedMultiplyAdd(q, Vector512.Load(k0 + d), a0);
                    a1 = Vector512.FusedMultiplyAdd(q, Vector512.Load(k1 + d), a1);
                    a2 = Vector512.FusedMultiplyAdd(q, Vector512.Load(k2 + d), a2);
                    a3 = Vector512.FusedMultiplyAdd(q, Vector512.Load(k3 + d), a3);
                }
                // Per 128-bit lane: [x0+x2, y0+y2, x1+x3, y1+y3] for the pairs (a0, a1) and (a2, a3) ...
                var pair01 = Avx512F.UnpackLow(a0, a1) + Avx512F.UnpackHigh(a0, a1);
                var pair23 = Avx512F.UnpackLow(a2, a3) + Avx512F.UnpackHigh(a2, a3);
                // ... then [a0, a1, a2, a3] partial sums per lane, then the four lanes added.
                var lanes = Avx512F.Shuffle(pair01, pair23, 0x44) + Avx512F.Shuffle(pair01, pair23, 0xEE);
                var halves = lanes.GetLower() + lanes.GetUpper();
                var four = (halves.GetLower() + halves.GetUpper()) * scale; // (q·k_j … q·k_j+3) · scale
                four.Store(scores + j);
                max = MathF.Max(max, MathF.Max(MathF.Max(four.GetElement(0), four.GetElement(1)), MathF.Max(four.GetElement(2), four.GetElement(3))));
            }
        }
        for (; j < length; j++)
        {
            var score = Dot(query, keys + (long)j * headDim, headDim) * scale;
            scores[j] = score;
            max = MathF.Max(max, score);
        }
        return max;
    }

    /// <summary>Σ a_i·b_i.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static float Dot(float* a, float* b, int n)
    {
        var i = 0;
        var sum = 0f;
        if (UseVectors && Vector512.IsHardwareAccelerated && n >= Vector512<float>.Count)
        {
            var acc = Vector512<float>.Zero;
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                acc = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), acc);
            }
            sum = Vector512.Sum(acc);
        }
        else if (UseVectors && Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            var acc = Vector256<float>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc);
            }
            sum = Vector256.Sum(acc);
        }
        for (; i < n; i++)
        {
            sum = MathF.FusedMultiplyAdd(a[i], b[i], sum);
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
    private static void WeightedSum(float* weights, float* values, int length, int headDim, float* output)
    {
        var column = 0;
        if (UseVectors && Vector512.IsHardwareAccelerated)
        {
            for (; column + 64 <= headDim; column += 64)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                var v = values + column;
                for (var j = 0; j < length; j++, v += headDim)
                {
                    var w = Vector512.Create(weights[j]);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.Load(v), w, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 16), w, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 32), w, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.Load(v + 48), w, a3);
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
        new Span<float>(output + column, rest).Clear();
        for (var j = 0; j < length; j++)
        {
            MultiplyAdd(output + column, weights[j], values + (long)j * headDim + column, rest);
        }
    }

    /// <summary>y ← y + a·x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // vector code: skip tier 0, which is many times slower
    private static void MultiplyAdd(float* y, float a, float* x, int n)
    {
        var i = 0;
        if (UseVectors && Vector512.IsHardwareAccelerated)
        {
            var scale = Vector512.Create(a);
            for (; i <= n - Vector512<float>.Count; i += Vector512<float>.Count)
            {
                Vector512.FusedMultiplyAdd(Vector512.Load(x + i), scale, Vector512.Load(y + i)).Store(y + i);
            }
        }
        else if (UseVectors && Vector256.IsHardwareAccelerated)
        {
            var scale = Vector256.Create(a);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                Vector256.FusedMultiplyAdd(Vector256.Load(x + i), scale, Vector256.Load(y + i)).Store(y + i);
            }
        }
        for (; i < n; i++)
        {
            y[i] = MathF.FusedMultiplyAdd(a, x[i], y[i]);
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
