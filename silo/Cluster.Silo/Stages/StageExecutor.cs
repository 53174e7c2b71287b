using System.Diagnostics;
using Cluster.Silo.Telemetry;
using Cluster.Contracts.Stages;
using Cluster.Engine.Model;
using Cluster.Engine.Sampling;
using Cluster.Engine.Sampling.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Silo.Stages;

/// <summary>
/// One admitted step on this stage's shard, synchronously on the calling thread: prepare each session's cache, embed
/// (stage 0) or take the incoming hidden states, run the layers, then hand the hidden states on or (last stage)
/// compute logits and sample. Everything runs inside one dispose scope on one thread; nothing here awaits.
/// </summary>
/// <param name="jsonTable">The vocabulary's bytes for JSON mode, built on the first request that asks for it.</param>
internal sealed class StageExecutor(ModelShard shard, Func<JsonTokenTable>? jsonTable = null)
{
    private readonly Func<JsonTokenTable> _jsonTable = jsonTable ?? (() => throw new InvalidOperationException("JSON mode needs the model's tokenizer; this stage was built without one."));

    /// <summary>How many rows of a scored chunk go through the LM head at once (bounds the logits held at a time).</summary>
    private const int ScoreRowsAtOnce = 32;

    private readonly HostLogits _logits = new();
    private readonly HashSet<string> _previousStep = []; // the sessions of this stage's step before, kept across steps

    public ModelShard Shard => shard;

    /// <param name="trace">The stage's forward span, parent of the sampling span (default: not traced).</param>
    /// <param name="deviceIdle">How long the device sat idle before this pass: reported when the step continues a sequence of this stage's step before.</param>
    public StageResult Execute(StageBatch batch, IReadOnlyList<StageSession> sessions, ActivityContext trace = default, TimeSpan deviceIdle = default)
    {
        var clock = Stopwatch.StartNew();
        using var scope = torch.NewDisposeScope();
        var entries = batch.Entries;
        var follows = entries.Any(e => _previousStep.Contains(e.SessionId));
        _previousStep.Clear();
        _previousStep.UnionWith(entries.Select(e => e.SessionId));
        var idleSeconds = follows ? deviceIdle.TotalSeconds : 0;
        var requests = entries.Select(e => CacheRequest.For(e, shard.Config.ContextLength)).ToArray();
        for (var i = 0; i < entries.Count; i++)
        {
            // Prefix-cache hits first: a source in this same step may be truncated by its own entry below.
            sessions[i].CopyPendingPrefix(requests[i].ReserveTokens, shard.CreateCache);
        }
        var chunks = new SequenceChunk[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            sessions[i].PrepareCache(requests[i].StartPosition, requests[i].ReserveTokens, shard.CreateCache);
            chunks[i] = SequenceChunk.ForTokens(sessions[i].Cache!, entries[i].StartPosition, entries[i].TokenIds);
        }

        var hidden = shard.HasEmbedding
            ? shard.Embed(chunks) // (T, H)
            : HiddenStateBytes.ToTensor(batch.Hidden!, shard.Placement.DType, shard.Placement.Device); // (T, H)
        hidden = shard.RunLayers(hidden, chunks); // (T, H)
        for (var i = 0; i < entries.Count; i++)
        {
            sessions[i].WriteHistory(entries[i].StartPosition, entries[i].TokenIds);
        }
        if (!shard.HasHead)
        {
            return new StageResult(HiddenStateBytes.FromTensor(hidden), [], [], [], clock.Elapsed.TotalSeconds, IdleSeconds: idleSeconds);
        }

        List<SampledTokenResult> tokens = [];
        if (entries.Any(e => e.Sampling is not null))
        {
            using var span = trace == default ? null : SiloTelemetry.Source.StartActivity("sample", ActivityKind.Internal, trace);
            tokens = Sample(hidden, chunks, entries, sessions);
            span?.SetTag("sampled", tokens.Count);
        }
        var scores = entries.Any(e => e.ScoreTop >= 0) ? Score(hidden, chunks, entries) : null;
        return new StageResult(null, tokens, [], [], clock.Elapsed.TotalSeconds, IdleSeconds: idleSeconds, Scores: scores);
    }

    /// <summary>
    /// The scored entries' tokens under the model's own distribution: each row of such a chunk predicts the token after
    /// it (the chunk's next one, or <see cref="StageEntry.NextTokenId"/> for its last row; a last row that samples is the
    /// sampled token's business), through the final norm and the LM head, then log-softmax.
    /// </summary>
    private List<PromptScores> Score(Tensor hidden, SequenceChunk[] chunks, IReadOnlyList<StageEntry> entries)
    {
        var scores = new List<PromptScores>();
        var offset = 0L;
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i];
            int[] targets = entry.ScoreTop < 0 ? [] : [.. entry.TokenIds.Skip(1), .. entry.NextTokenId >= 0 ? [entry.NextTokenId] : Array.Empty<int>()];
            if (targets.Length > 0)
            {
                var logprobs = new float[targets.Length];
                var topIds = new int[targets.Length * entry.ScoreTop];
                var topLogprobs = new float[targets.Length * entry.ScoreTop];
                // A slice of rows at a time: the logits of a long chunk over a large vocabulary (256 × 152k floats is
                // 155 MB) would otherwise be held whole, twice.
                for (var first = 0; first < targets.Length; first += ScoreRowsAtOnce)
                {
                    var rows = Math.Min(ScoreRowsAtOnce, targets.Length - first);
                    using var scope = torch.NewDisposeScope();
                    var scored = shard.LensLogits(hidden.narrow(0, offset + first, rows)).log_softmax(1); // (rows, V) float32
                    var next = torch.tensor(targets[first..(first + rows)], dtype: ScalarType.Int64, device: scored.device).unsqueeze(1); // (rows, 1)
                    scored.gather(1, next).squeeze(1).cpu().data<float>().CopyTo(logprobs, first); // (rows)
                    if (entry.ScoreTop > 0)
                    {
                        CopyTop(scored, entry.ScoreTop, topIds, topLogprobs, first);
                    }
                }
                scores.Add(new PromptScores(entry.SessionId, entry.StartPosition + 1, logprobs, topIds, topLogprobs));
            }
            offset += chunks[i].Length;
        }
        return scores;
    }

    /// <summary>
    /// An embed batch on this shard: a prefill of every input with caches made for the call and dropped after it,
    /// then either pooling (this shard produces the requested layer's hidden states) or the hidden states for the next stage.
    /// </summary>
    public EmbedResult Embed(EmbedBatch batch)
    {
        var clock = Stopwatch.StartNew();
        using var scope = torch.NewDisposeScope();
        var caches = batch.Inputs.Select(ids => shard.CreateCache(ids.Length)).ToArray();
        try
        {
            var chunks = batch.Inputs.Select((ids, i) => SequenceChunk.ForTokens(caches[i], 0, ids)).ToArray();
            var hidden = shard.HasEmbedding
                ? shard.Embed(chunks) // (T, H)
                : HiddenStateBytes.ToTensor(batch.Hidden!, shard.Placement.DType, shard.Placement.Device); // (T, H)
            if (!shard.Produces(batch.Layer))
            {
                return new EmbedResult(HiddenStateBytes.FromTensor(shard.RunLayers(hidden, chunks)), null, clock.Elapsed.TotalSeconds, "");
            }
            var states = shard.HiddenStatesAfter(hidden, chunks, batch.Layer); // (T, H)
            var pool = batch.Pool == EmbeddingPool.LastToken ? PoolingKind.Last : PoolingKind.Mean;
            var pooled = EmbeddingPooling.Pool(states, batch.Inputs.Select(ids => ids.Length).ToArray(), pool, batch.Normalize).cpu(); // (N, H) float32
            var width = (int)pooled.shape[1];
            var values = pooled.data<float>().ToArray();
            var vectors = Enumerable.Range(0, batch.Inputs.Length).Select(i => values.AsSpan(i * width, width).ToArray()).ToArray();
            return new EmbedResult(null, vectors, clock.Elapsed.TotalSeconds, "");
        }
        finally
        {
            foreach (var cache in caches)
            {
                cache.Dispose();
            }
        }
    }

    /// <summary>
    /// One prompt's forward pass with a cache made for the call, keeping each layer's last-token state; the last stage
    /// reads every layer's state through the final norm and the LM head (a logit lens).
    /// </summary>
    public InspectResult Inspect(InspectBatch batch)
    {
        var clock = Stopwatch.StartNew();
        using var scope = torch.NewDisposeScope();
        using var cache = shard.CreateCache(batch.TokenIds.Length);
        SequenceChunk[] chunks = [SequenceChunk.ForTokens(cache, 0, batch.TokenIds)];
        var hidden = shard.HasEmbedding
            ? shard.Embed(chunks) // (T, H)
            : HiddenStateBytes.ToTensor(batch.Hidden!, shard.Placement.DType, shard.Placement.Device); // (T, H)
        var (output, layers, attentionWeights) = shard.RunLayersKeepingLastStates(hidden, chunks, batch.AttentionRows, batch.LensRows);
        LayerAttention[]? attention = batch.AttentionRows == 0 ? null : [.. attentionWeights.Select((w, i) => new LayerAttention(
            shard.Layers.Start + i + 1, (int)w.shape[0], (int)w.shape[1], (int)w.shape[2], w.cpu().data<float>().ToArray()))];
        TokenNeighbours? neighbours = null;
        PositionCurve? positions = null;
        if (shard.HasEmbedding)
        {
            int[] distinct = [.. batch.TokenIds.Distinct()];
            var (lengths, nearest, similarities) = shard.TokenNeighbours(distinct, Math.Min(batch.TopN, shard.Config.VocabularySize));
            neighbours = new TokenNeighbours(distinct, lengths, nearest, similarities);
            var p = shard.Positions();
            positions = new PositionCurve(p.Rotary, p.RopeTheta, p.HeadDimension, p.Frequencies, p.Positions, p.Distances, p.Similarities);
        }
        var states = batch.LayerStates.Concat(layers.Select(l => l.LastStates.to_type(ScalarType.Float32).cpu().data<float>().ToArray())).ToArray();
        if (!shard.HasHead)
        {
            return new InspectResult(HiddenStateBytes.FromTensor(output), states, null, clock.Elapsed.TotalSeconds, "", Embedding: neighbours, Attention: attention, Positions: positions);
        }
        var lens = Lens(states, batch.LensRows, batch.TopN, out var lastLogits);
        SamplerExplanation? sampler = null;
        if (batch.Sampling is { } settings)
        {
            var view = SamplerView.Explain(lastLogits, batch.TokenIds, RequestSampler.Parameters(settings), batch.TopN, maxDrawnFrom: 100);
            sampler = new SamplerExplanation(
                [.. view.AfterPenalty.Select(t => t.TokenId)], [.. view.AfterPenalty.Select(t => (float)t.Probability)],
                [.. view.AfterTemperature.Select(t => t.TokenId)], [.. view.AfterTemperature.Select(t => (float)t.Probability)],
                view.Greedy, view.FiniteTokens, view.KeptAfterMinP, view.KeptAfterTopK, view.KeptAfterTopP,
                [.. view.DrawnFrom.Select(t => t.TokenId)], [.. view.DrawnFrom.Select(t => (float)t.Probability)]);
        }
        return new InspectResult(null, [], lens, clock.Elapsed.TotalSeconds, "", sampler, neighbours, attention, positions);
    }

    /// <summary>The <paramref name="topN"/> most likely tokens of each row of <paramref name="logprobs"/> (rows, V), copied into the arrays from row <paramref name="at"/> on.</summary>
    private static void CopyTop(Tensor logprobs, int topN, int[] ids, float[] values, int at)
    {
        var (top, indices) = logprobs.topk(topN, dim: 1); // (rows, N) each
        top.cpu().data<float>().CopyTo(values, at * topN);
        var longIds = indices.cpu().data<long>().ToArray();
        for (var j = 0; j < longIds.Length; j++)
        {
            ids[at * topN + j] = (int)longIds[j];
        }
    }

    /// <summary>
    /// The logit lens on every layer's kept rows (<paramref name="rows"/> positions each): the final norm and LM head on
    /// each state, its norm and top <paramref name="topN"/> log-probabilities; the last layer's last row's logits come
    /// back for the sampler view.
    /// </summary>
    private LensLayer[] Lens(float[][] states, int rows, int topN, out float[] lastLogits)
    {
        var width = shard.Config.HiddenSize;
        var flat = states.SelectMany(s => s).ToArray(); // ((L + 1) · rows · H): every layer's rows, in order
        var total = states.Length * rows;
        var topIds = new int[total * topN];
        var topLogprobs = new float[total * topN];
        lastLogits = [];
        const int RowsPerCall = 256; // bounds the (rows, V) logits of one call
        for (var start = 0; start < total; start += RowsPerCall)
        {
            using var scope = torch.NewDisposeScope();
            var count = Math.Min(RowsPerCall, total - start);
            var residual = torch.tensor(flat.AsSpan(start * width, count * width).ToArray(), [count, width]); // (c, H) float32 on the host
            var logits = shard.LensLogits(residual.to(shard.Placement.DType).to(shard.Placement.Device)).cpu(); // (c, V) float32
            CopyTop(logits.log_softmax(1), topN, topIds, topLogprobs, start);
            if (start + count == total)
            {
                lastLogits = logits[count - 1].data<float>().ToArray();
            }
        }
        var norms = Enumerable.Range(0, total).Select(r => (float)Math.Sqrt(flat.AsSpan(r * width, width).ToArray().Sum(v => (double)v * v))).ToArray();
        var lens = new LensLayer[states.Length];
        for (var layer = 0; layer < states.Length; layer++)
        {
            var last = layer * rows + rows - 1;
            lens[layer] = new LensLayer(layer, norms[last], topIds[(last * topN)..((last + 1) * topN)], topLogprobs[(last * topN)..((last + 1) * topN)]);
            if (rows > 1)
            {
                var first = layer * rows;
                lens[layer] = lens[layer] with
                {
                    PositionNorms = norms[first..(first + rows)],
                    PositionTopIds = topIds[(first * topN)..((first + rows) * topN)],
                    PositionTopLogprobs = topLogprobs[(first * topN)..((first + rows) * topN)],
                };
            }
        }
        return lens;
    }

    private List<SampledTokenResult> Sample(Tensor hidden, SequenceChunk[] chunks, IReadOnlyList<StageEntry> entries, IReadOnlyList<StageSession> sessions)
    {
        // Only the entries that sample need logits: the head and the copy to the host skip the others (prefill chunks).
        var sampling = Enumerable.Range(0, entries.Count).Where(i => entries[i].Sampling is not null).ToArray();
        _logits.Load(shard.Logits(hidden, chunks, onlyChunks: sampling)); // (M, V) float32, each sampling entry's last token
        var samplers = sampling.Select(i => RequestSampler.For(sessions[i], entries[i].Sampling!, _jsonTable)).ToArray();
        var tokens = StepSampling.Sample(_logits, samplers, sampling.Select(i => sessions[i].History).ToArray());
        var results = new List<SampledTokenResult>(sampling.Length);
        for (var row = 0; row < sampling.Length; row++)
        {
            var i = sampling[row];
            var token = tokens[row];
            sessions[i].LastSample = (entries[i].StartPosition + entries[i].TokenIds.Length, token.TokenId);
            results.Add(new SampledTokenResult(
                entries[i].SessionId,
                token.TokenId,
                token.Logprob,
                token.TopAlternatives.Select(a => a.TokenId).ToArray(),
                token.TopAlternatives.Select(a => a.Logprob).ToArray()));
        }
        return results;
    }
}
