using Cluster.Engine.Configuration;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// Multi-head / grouped-query self-attention over each sequence's KV cache. The q/k/v projections are one
/// fused (qDim + 2·kvDim, H) matrix; rotary embeddings are applied when the family uses them (Llama).
/// Projections run on all packed tokens of the step at once; the attention itself runs per sequence, since
/// every sequence has its own cache length.
/// </summary>
public sealed class Attention : IDisposable
{
    private readonly Linear _qkv;              // (qDim + 2·kvDim, H), bias (qDim + 2·kvDim) or none
    private readonly Linear _output;           // (H, qDim), bias (H) or none
    private readonly RotaryEmbedding? _rotary; // shared by all layers of the shard; not owned
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;

    public Attention(ModelConfig config, Linear qkv, Linear output, RotaryEmbedding? rotary)
    {
        _qkv = qkv;
        _output = output;
        _rotary = rotary;
        _heads = config.HeadCount;
        _kvHeads = config.KeyValueHeadCount;
        _headDim = config.HeadDimension;
    }

    /// <param name="x">Normalized hidden states of all packed tokens: (T, H).</param>
    /// <param name="cacheLayer">This layer's index within the shard's caches.</param>
    internal Tensor Forward(Tensor x, StepLayout step, int cacheLayer)
    {
        var t = x.shape[0];
        var qDim = _heads * _headDim;
        var kvDim = _kvHeads * _headDim;
        var qkv = _qkv.Forward(x);                                        // (T, qDim + 2·kvDim)
        if (IsHostDecodeStep(qkv, step))
        {
            return _output.Forward(AttendHostDecode(qkv, step, cacheLayer)); // (T, H)
        }
        var q = qkv.narrow(1, 0, qDim).view(t, _heads, _headDim);          // (T, nHeads, headDim)
        var k = qkv.narrow(1, qDim, kvDim).view(t, _kvHeads, _headDim);    // (T, nKv, headDim)
        var v = qkv.narrow(1, qDim + kvDim, kvDim).view(t, _kvHeads, _headDim);
        if (_rotary is not null)
        {
            q = _rotary.Apply(q, step); // (T, nHeads, headDim), rotated in place on CPU fp32
            k = _rotary.Apply(k, step); // (T, nKv, headDim)
        }

        var attended = Attend(q, k, v, step, cacheLayer);                  // (T, nHeads·headDim)
        return _output.Forward(attended);                                  // (T, H)
    }

    /// <summary>
    /// The attention itself, between the projections: writes every chunk's new keys and values into its cache and
    /// attends each chunk's queries over its cache. Separate from <see cref="Forward"/> so the decode profile can time it.
    /// </summary>
    /// <param name="q">(T, nHeads, headDim), rotated.</param>
    /// <param name="k">(T, nKv, headDim), rotated.</param>
    /// <param name="v">(T, nKv, headDim).</param>
    /// <returns>(T, nHeads·headDim).</returns>
    internal Tensor Attend(Tensor q, Tensor k, Tensor v, StepLayout step, int cacheLayer)
    {
        if (q.device_type == DeviceType.CPU && q.dtype == ScalarType.Float32 && step.Chunks.Any(c => c.Length == 1 && c.Cache.IsHostKernelCache))
        {
            return AttendWithDecodeKernel(q, k, v, step, cacheLayer);
        }
        var outputs = new Tensor[step.Chunks.Count];
        for (var i = 0; i < step.Chunks.Count; i++)
        {
            outputs[i] = AttendOneSequence(q, k, v, step, i, cacheLayer); // (t_i, nHeads·headDim)
        }
        return outputs.Length == 1 ? outputs[0] : torch.cat(outputs, dim: 0); // (T, nHeads·headDim)
    }

    /// <summary>
    /// Causal self-attention over whole sequences without a cache, for training: the same projections and
    /// rotary embedding as <see cref="Forward"/>, batched. Autograd flows through it outside inference mode.
    /// </summary>
    /// <param name="x">Normalized hidden states: (B, T, H).</param>
    /// <param name="positions">(T) int64: every sequence starts at position 0.</param>
    internal Tensor ForwardCausal(Tensor x, Tensor positions)
    {
        var (b, t) = (x.shape[0], x.shape[1]);
        var qDim = _heads * _headDim;
        var kvDim = _kvHeads * _headDim;
        var qkv = _qkv.Forward(x);                                                // (B, T, qDim + 2·kvDim)
        var q = qkv.narrow(2, 0, qDim).view(b, t, _heads, _headDim);              // (B, T, nHeads, headDim)
        var k = qkv.narrow(2, qDim, kvDim).view(b, t, _kvHeads, _headDim);        // (B, T, nKv, headDim)
        var v = qkv.narrow(2, qDim + kvDim, kvDim).view(b, t, _kvHeads, _headDim);
        if (_rotary is not null)
        {
            q = _rotary.Apply(q, positions);
            k = _rotary.Apply(k, positions);
        }
        // Query head h reads KV head h / g, as the cached path's grouping does.
        var group = _heads / _kvHeads;
        var keys = ExpandGroups(k, group);                                        // (B, nHeads, T, headDim)
        var values = ExpandGroups(v, group);
        var attended = nn.functional.scaled_dot_product_attention(q.transpose(1, 2), keys, values, null, 0.0, true); // (B, nHeads, T, headDim)
        var merged = attended.transpose(1, 2).reshape(b, t, qDim);                // (B, T, nHeads·headDim)
        return _output.Forward(merged);                                           // (B, T, H)
    }

    /// <summary>
    /// The attention weights of one whole sequence from position 0, per query head: softmax(q·kᵀ/√headDim) under the
    /// causal mask, with the same projections, rotary embedding and grouping as <see cref="Forward"/>. For looking
    /// inside; the forward pass never materialises them.
    /// </summary>
    /// <param name="x">Normalized hidden states (T, H) of one sequence.</param>
    /// <param name="positions">(T) int64, 0 to T-1.</param>
    /// <returns>(nHeads, T, T) float32; row i holds what token i attends to, zero after i.</returns>
    internal Tensor Weights(Tensor x, Tensor positions)
    {
        var t = x.shape[0];
        var qDim = _heads * _headDim;
        var kvDim = _kvHeads * _headDim;
        var qkv = _qkv.Forward(x);                                        // (T, qDim + 2·kvDim)
        var q = qkv.narrow(1, 0, qDim).view(t, _heads, _headDim);          // (T, nHeads, headDim)
        var k = qkv.narrow(1, qDim, kvDim).view(t, _kvHeads, _headDim);    // (T, nKv, headDim)
        if (_rotary is not null)
        {
            q = _rotary.Apply(q, positions);
            k = _rotary.Apply(k, positions);
        }
        var keys = ExpandGroups(k.unsqueeze(0), _heads / _kvHeads).squeeze(0); // (nHeads, T, headDim)
        var scores = q.transpose(0, 1).to_type(ScalarType.Float32)
            .matmul(keys.to_type(ScalarType.Float32).transpose(1, 2))
            .div(Math.Sqrt(_headDim));                                     // (nHeads, T, T)
        var future = torch.ones([t, t], ScalarType.Bool, x.device).triu(1); // (T, T), true above the diagonal
        return scores.masked_fill(future, float.NegativeInfinity).softmax(-1); // (nHeads, T, T)
    }

    private Tensor ExpandGroups(Tensor kv, int group)
    {
        var (b, t) = (kv.shape[0], kv.shape[1]);
        var heads = kv.transpose(1, 2);                                           // (B, nKv, T, headDim)
        return group == 1
            ? heads
            : heads.unsqueeze(2).expand(b, _kvHeads, group, t, _headDim).reshape(b, _heads, t, _headDim); // (B, nHeads, T, headDim)
    }

    /// <summary>
    /// On fp32 host caches: every single-token chunk in one call of the C# decode-attention kernel, which writes the new
    /// key and value into each cache and attends over it in place; multi-token chunks (prefill) keep libtorch's
    /// scaled-dot-product attention with their explicit mask. Each writes its rows of one output.
    /// </summary>
    private Tensor AttendWithDecodeKernel(Tensor q, Tensor k, Tensor v, StepLayout step, int cacheLayer)
    {
        var qDim = _heads * _headDim;
        q = TensorMemory.HasPackedRows(q, _headDim) ? q : q.contiguous(); // (T, nHeads, headDim), rows of heads packed
        k = TensorMemory.HasPackedRows(k, _headDim) ? k : k.contiguous(); // (T, nKv, headDim)
        v = TensorMemory.HasPackedRows(v, _headDim) ? v : v.contiguous(); // (T, nKv, headDim)
        var output = torch.empty([step.TotalTokens, qDim], ScalarType.Float32, q.device); // (T, nHeads·headDim)
        var (qData, kData, vData, outData) = (TensorMemory.Float32Data(q), TensorMemory.Float32Data(k), TensorMemory.Float32Data(v), TensorMemory.Float32Data(output));
        var (qRow, kRow, vRow) = (q.stride(0) * sizeof(float), k.stride(0) * sizeof(float), v.stride(0) * sizeof(float));
        var decodes = new List<Cluster.Kernels.DecodeAttentionSequence>(step.Chunks.Count);
        for (var i = 0; i < step.Chunks.Count; i++)
        {
            var chunk = step.Chunks[i];
            var offset = step.Offsets[i];
            if (chunk.Length == 1 && chunk.Cache.IsHostKernelCache)
            {
                decodes.Add(Decode(chunk, cacheLayer, qData + (nint)(offset * qRow), kData + (nint)(offset * kRow), vData + (nint)(offset * vRow),
                    outData + (nint)((long)offset * qDim * sizeof(float))));
            }
            else
            {
                output.narrow(0, offset, chunk.Length).copy_(AttendOneSequence(q, k, v, step, i, cacheLayer)); // (t_i, nHeads·headDim)
            }
        }
        Cluster.Kernels.DecodeAttention.Run(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(decodes), _heads, _kvHeads, _headDim);
        return output;
    }

    /// <summary>
    /// A step of single-token chunks only, on fp32 host caches, with the projections in one packed host tensor: the
    /// common decode step, which <see cref="AttendHostDecode"/> serves from pointers into <paramref name="qkv"/>.
    /// </summary>
    private bool IsHostDecodeStep(Tensor qkv, StepLayout step)
    {
        if (step.TotalTokens != step.Chunks.Count || (_rotary is not null && !_rotary.RotatesOnHost))
        {
            return false;
        }
        foreach (var chunk in step.Chunks)
        {
            if (!chunk.Cache.IsHostKernelCache)
            {
                return false;
            }
        }
        return qkv.device_type == DeviceType.CPU && qkv.dtype == ScalarType.Float32 && qkv.dim() == 2 && qkv.is_contiguous();
    }

    /// <summary>
    /// The decode step's attention without a tensor per query, key and value view: rotary and the decode-attention kernel
    /// read and write the rows of <paramref name="qkv"/> in place. A step makes twelve layers of these calls, and on the
    /// CPU each view libtorch creates and frees costs as much as the small kernels around it. The same kernels on the
    /// same memory as the view path, so the same bits.
    /// </summary>
    /// <param name="qkv">(T, qDim + 2·kvDim) fp32, contiguous; one row per chunk, in chunk order.</param>
    /// <returns>(T, nHeads·headDim).</returns>
    private Tensor AttendHostDecode(Tensor qkv, StepLayout step, int cacheLayer)
    {
        var (qDim, kvDim) = (_heads * _headDim, _kvHeads * _headDim);
        var width = qDim + 2 * kvDim;
        var rowBytes = (nint)width * sizeof(float);
        var queries = TensorMemory.Float32Data(qkv);                    // row r: q (nHeads, headDim), k (nKv, headDim), v (nKv, headDim)
        var keys = queries + (nint)qDim * sizeof(float);
        var values = keys + (nint)kvDim * sizeof(float);
        _rotary?.RotateInPlace(queries, width, _heads, _headDim, step);
        _rotary?.RotateInPlace(keys, width, _kvHeads, _headDim, step);
        var output = torch.empty([step.TotalTokens, qDim], ScalarType.Float32); // (T, nHeads·headDim)
        var outData = TensorMemory.Float32Data(output);
        var decodes = new Cluster.Kernels.DecodeAttentionSequence[step.Chunks.Count];
        for (var i = 0; i < decodes.Length; i++)
        {
            decodes[i] = Decode(step.Chunks[i], cacheLayer, queries + i * rowBytes, keys + i * rowBytes, values + i * rowBytes, outData + (nint)i * qDim * sizeof(float));
        }
        Cluster.Kernels.DecodeAttention.Run(decodes, _heads, _kvHeads, _headDim);
        GC.KeepAlive(qkv);
        return output;
    }

    /// <summary>One single-token chunk for the decode-attention kernel: its new query, key and value rows, its cache, where to write.</summary>
    private static Cluster.Kernels.DecodeAttentionSequence Decode(SequenceChunk chunk, int cacheLayer, nint query, nint key, nint value, nint output) =>
        new(query, key, value, chunk.Cache.KeyData(cacheLayer), chunk.Cache.ValueData(cacheLayer), chunk.Cache.Capacity, chunk.StartPosition, output,
            chunk.Cache.IsBFloat16);

    private Tensor AttendOneSequence(Tensor q, Tensor k, Tensor v, StepLayout step, int index, int cacheLayer)
    {
        var chunk = step.Chunks[index];
        var offset = step.Offsets[index];
        var t = chunk.Length;
        var end = chunk.StartPosition + t;
        chunk.Cache.Write(cacheLayer, chunk.StartPosition,
            k.narrow(0, offset, t).transpose(0, 1),                      // (nKv, t, headDim)
            v.narrow(0, offset, t).transpose(0, 1));
        // A bf16 cache under fp32 activations is widened for libtorch's attention, which wants one dtype.
        var keys = chunk.Cache.Keys(cacheLayer, end).to_type(q.dtype);   // (nKv, end, headDim)
        var values = chunk.Cache.Values(cacheLayer, end).to_type(q.dtype);

        // Grouped-query attention without copying the cache: the g query heads that share a KV head are
        // folded into that head's query rows, (nKv, g·t, headDim), so every KV head is read once.
        var group = _heads / _kvHeads;
        var queries = q.narrow(0, offset, t)                              // (t, nHeads, headDim)
            .permute(1, 0, 2)                                            // (nHeads, t, headDim)
            .reshape(_kvHeads, group * t, _headDim);                     // (nKv, g·t, headDim)
        var mask = step.Masks[index]?.repeat(group, 1).view(1, 1, group * t, end); // (1, 1, g·t, end) or null
        // The causal flag aligns upper-left in libtorch, wrong for a chunk after a cached prefix: the explicit
        // mask (true = attend) handles both prefill and chunked prefill; a single new token sees everything.
        // Batched 4-d inputs: on the CPU only they reach libtorch's fused (flash) kernel; 3-d inputs take the
        // unfused path, which materialises every score and costs three times as long at a 512-token prefill.
        var attended = nn.functional.scaled_dot_product_attention(
            queries.unsqueeze(0), keys.unsqueeze(0), values.unsqueeze(0), mask, 0.0, false); // (1, nKv, g·t, headDim)
        return attended.view(_kvHeads, group, t, _headDim)               // (nKv, g, t, headDim)
            .permute(2, 0, 1, 3)                                         // (t, nKv, g, headDim)
            .reshape(t, _heads * _headDim);                              // (t, nHeads·headDim)
    }

    public void Dispose()
    {
        _qkv.Dispose();
        _output.Dispose();
    }
}
