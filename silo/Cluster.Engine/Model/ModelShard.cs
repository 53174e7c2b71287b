using Cluster.Engine.Caching;
using Cluster.Engine.Configuration;
using Cluster.Engine.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace Cluster.Engine.Model;

/// <summary>
/// A contiguous range of decoder layers loaded from a checkpoint, runnable on its own: the unit a pipeline
/// stage owns. The first shard also embeds, the last also applies the final norm and LM head; the whole model
/// is the shard of all layers, and its <see cref="Forward"/> is the composition of the three steps.
/// Not thread-safe: one forward at a time per shard (the device serializes compute anyway).
/// </summary>
public sealed class ModelShard : IDisposable
{
    private readonly IEmbedding? _embedding;
    private readonly DecoderBlock[] _blocks;
    private readonly LanguageModelHead? _head;
    private readonly RotaryEmbedding? _rotary;

    private ModelShard(ModelConfig config, LayerRange layers, ComputePlacement placement, IEmbedding? embedding, DecoderBlock[] blocks, LanguageModelHead? head, RotaryEmbedding? rotary)
    {
        Config = config;
        Layers = layers;
        Placement = placement;
        _embedding = embedding;
        _blocks = blocks;
        _head = head;
        _rotary = rotary;
    }

    public ModelConfig Config { get; }
    public LayerRange Layers { get; }
    public ComputePlacement Placement { get; }
    public bool HasEmbedding => _embedding is not null;
    public bool HasHead => _head is not null;

    /// <summary>
    /// Loads layers <paramref name="layers"/> (all when null) of the checkpoint in <paramref name="checkpointDirectory"/>.
    /// The whole checkpoint is first checked against the config (headers only); then only this shard's tensors are read.
    /// </summary>
    public static ModelShard Load(string checkpointDirectory, LayerRange? layers = null, EngineOptions? options = null)
    {
        var config = ModelConfigReader.ReadFromDirectory(checkpointDirectory);
        var range = layers ?? LayerRange.All(config.LayerCount);
        range.Validate(config.LayerCount);
        var placement = ComputePlacement.Resolve(options ?? new EngineOptions());
        var checkpoint = CheckpointWeights.Open(checkpointDirectory);
        var family = ModelFamily.For(config, checkpoint);
        var weights = new WeightLoader(checkpoint, family.ExpectedWeights(), placement);
        weights.CheckStrictly(family.IsIgnorable);

        var loaded = new List<IDisposable>();
        try
        {
            var rotary = family.UsesRotaryEmbedding ? Track(new RotaryEmbedding(config, placement.DType, placement.Device), loaded) : null;
            var embedding = range.Start == 0 ? Track(family.CreateEmbedding(weights), loaded) : null;
            var blocks = new DecoderBlock[range.Count];
            for (var i = 0; i < blocks.Length; i++)
            {
                blocks[i] = Track(family.CreateBlock(range.Start + i, weights, rotary), loaded);
            }
            var head = range.End == config.LayerCount
                ? family.CreateHead(weights, config.TieWordEmbeddings ? embedding?.TokenWeight : null)
                : null;
            return new ModelShard(config, range, placement, embedding, blocks, head, rotary);
        }
        catch
        {
            foreach (var part in loaded)
            {
                part.Dispose();
            }
            throw;
        }
    }

    private static T Track<T>(T part, List<IDisposable> loaded) where T : IDisposable
    {
        loaded.Add(part);
        return part;
    }

    /// <summary>A KV cache for one sequence on this shard's layers, with room for <paramref name="reserveTokens"/> positions.</summary>
    public KvCache CreateCache(int reserveTokens = 0)
    {
        if (reserveTokens > Config.ContextLength)
        {
            throw new ArgumentOutOfRangeException(nameof(reserveTokens), $"{reserveTokens} positions exceed the model's context length of {Config.ContextLength}.");
        }
        return new KvCache(Layers.Count, Config.KeyValueHeadCount, Config.HeadDimension, Config.ContextLength, Placement.KvDType, Placement.Device, reserveTokens);
    }

    /// <summary>Token ids of every chunk, packed, to hidden states (T, H). Only the first shard embeds.</summary>
    public Tensor Embed(IReadOnlyList<SequenceChunk> chunks)
    {
        var embedding = _embedding ?? throw new InvalidOperationException($"Shard {Layers} does not start at layer 0 and holds no embeddings.");
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var step = StepLayout.Create(chunks, Config.ContextLength, Placement.Device);
        var ids = PackTokenIds(chunks);
        var tokenIds = torch.tensor(ids, ScalarType.Int64, Placement.Device); // (T)
        return embedding.Forward(tokenIds, step.Positions).MoveToOuterDisposeScope();  // (T, H)
    }

    /// <summary>
    /// Runs this shard's layers on packed hidden states (T, H) and writes each chunk's keys and values into its
    /// cache; on success every cache's length becomes its chunk's end. Returns new hidden states (T, H).
    /// </summary>
    public Tensor RunLayers(Tensor hidden, IReadOnlyList<SequenceChunk> chunks)
    {
        var output = RunBlocks(hidden, chunks, _blocks.Length);
        foreach (var chunk in chunks)
        {
            chunk.Cache.Advance(chunk.StartPosition + chunk.Length);
        }
        return output;
    }

    /// <summary>
    /// Runs this shard's layers as <see cref="RunLayers"/> does and also returns, for every layer boundary this shard
    /// produces (see <see cref="Produces"/>: its blocks' outputs, and the embeddings on the first shard), each chunk's
    /// last-token state of the residual stream, (chunks, H) each, in layer order: what a logit lens reads.
    /// </summary>
    /// <param name="keptRows">
    /// For a single chunk, the states of its last <paramref name="keptRows"/> positions instead, (rows, H) each: a logit
    /// lens at every position. With several chunks it must be 1.
    /// </param>
    /// <param name="attentionRows">
    /// Also each layer's attention weights, (nHeads, rows, T) float32, for the last <paramref name="attentionRows"/>
    /// query positions of a single chunk starting at position 0 (0: none).
    /// </param>
    public (Tensor Hidden, IReadOnlyList<(int Layer, Tensor LastStates)> Layers, IReadOnlyList<Tensor> Attention) RunLayersKeepingLastStates(
        Tensor hidden, IReadOnlyList<SequenceChunk> chunks, int attentionRows = 0, int keptRows = 1)
    {
        if (keptRows != 1 && (chunks.Count != 1 || keptRows < 1 || keptRows > chunks[0].Length))
        {
            throw new ArgumentException($"Kept rows are for one chunk, 1 to its length; got {chunks.Count} chunks, {keptRows} rows.");
        }
        if (attentionRows > 0 && (chunks.Count != 1 || chunks[0].StartPosition != 0 || attentionRows > chunks[0].Length))
        {
            throw new ArgumentException($"Attention weights are for one chunk from position 0, at most its length in rows; got {chunks.Count} chunks, {attentionRows} rows.");
        }
        var attention = new List<Tensor>();
        Tensor? positions = attentionRows > 0 ? torch.arange(chunks[0].Length, ScalarType.Int64, Placement.Device) : null;
        var lastRows = new long[chunks.Count];
        var offset = 0L;
        for (var i = 0; i < chunks.Count; i++)
        {
            offset += chunks[i].Length;
            lastRows[i] = offset - 1;
        }
        if (keptRows > 1)
        {
            lastRows = [.. Enumerable.Range(chunks[0].Length - keptRows, keptRows).Select(r => (long)r)];
        }
        using var rows = torch.tensor(lastRows, ScalarType.Int64, Placement.Device);
        var kept = new List<(int, Tensor)>();
        if (HasEmbedding)
        {
            kept.Add((0, hidden.index_select(0, rows))); // (chunks or kept rows, H)
        }
        var output = RunBlocks(hidden, chunks, _blocks.Length,
            (block, x) => kept.Add((Layers.Start + block + 1, x.index_select(0, rows).MoveToOuterDisposeScope())),
            positions is null ? null : (block, x) =>
            {
                var weights = _blocks[block].AttentionWeights(x, positions); // (nHeads, T, T)
                attention.Add(weights.narrow(1, weights.shape[1] - attentionRows, attentionRows).MoveToOuterDisposeScope()); // (nHeads, rows, T)
            });
        positions?.Dispose();
        foreach (var chunk in chunks)
        {
            chunk.Cache.Advance(chunk.StartPosition + chunk.Length);
        }
        return (output, kept, attention);
    }

    /// <summary>
    /// For each of <paramref name="tokenIds"/>: its token embedding's length, and the <paramref name="topN"/> rows of
    /// the token embedding table nearest to it by cosine similarity, most similar first (the token itself, at 1, leads
    /// unless another row points the same way). Only the first shard holds the table.
    /// </summary>
    public (float[] Norms, int[][] Nearest, float[][] Similarities) TokenNeighbours(IReadOnlyList<int> tokenIds, int topN)
    {
        var embedding = _embedding ?? throw new InvalidOperationException($"Shard {Layers} does not start at layer 0 and holds no embeddings.");
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var table = embedding.TokenWeight.to_type(ScalarType.Float32); // (V, H)
        var unit = nn.functional.normalize(table, p: 2, dim: 1); // (V, H), rows of length 1
        var norms = new float[tokenIds.Count];
        var nearest = new int[tokenIds.Count][];
        var similarities = new float[tokenIds.Count][];
        const int Chunk = 256; // bounds the (chunk, V) similarity matrix
        for (var start = 0; start < tokenIds.Count; start += Chunk)
        {
            using var chunkScope = torch.NewDisposeScope();
            var count = Math.Min(Chunk, tokenIds.Count - start);
            var ids = torch.tensor(tokenIds.Skip(start).Take(count).Select(id => (long)id).ToArray(), ScalarType.Int64, Placement.Device); // (c)
            var rows = table.index_select(0, ids); // (c, H)
            var lengths = rows.mul(rows).sum(1).sqrt().cpu().data<float>().ToArray(); // (c)
            var (values, indices) = unit.index_select(0, ids).matmul(unit.t()).topk(topN, dim: 1); // (c, N) each
            var topValues = values.cpu().data<float>().ToArray();
            var topIds = indices.cpu().data<long>().ToArray();
            for (var i = 0; i < count; i++)
            {
                norms[start + i] = lengths[i];
                nearest[start + i] = [.. topIds.Skip(i * topN).Take(topN).Select(id => (int)id)];
                similarities[start + i] = [.. topValues.Skip(i * topN).Take(topN)];
            }
        }
        return (norms, nearest, similarities);
    }

    /// <summary>
    /// How this model encodes positions (see <see cref="PositionProfile"/>): learned from the position table, which
    /// only the first shard holds; otherwise rotary, from the config every shard shares.
    /// </summary>
    public PositionProfile Positions() =>
        _embedding?.PositionWeight is { } table ? PositionProfile.ForLearned(table)
        : Config.Architecture == ModelArchitecture.Gpt2 ? throw new InvalidOperationException($"Shard {Layers} does not start at layer 0 and holds no position table.")
        : PositionProfile.ForRotary(Config.RopeTheta, Config.HeadDimension, RotaryEmbedding.InverseFrequencies(Config), Config.ContextLength);

    /// <summary>
    /// The final norm and LM head on residual-stream states (N, H) from any layer: a logit lens. On the last layer's
    /// states it gives the model's own next-token logits. (N, V) float32.
    /// </summary>
    public Tensor LensLogits(Tensor states)
    {
        var head = _head ?? throw new InvalidOperationException($"Shard {Layers} does not end at layer {Config.LayerCount} and holds no LM head.");
        using var inference = torch.inference_mode();
        return head.Forward(states);
    }

    /// <summary>The first <paramref name="count"/> blocks of this shard on packed hidden states (T, H), writing the chunks' caches for them.</summary>
    /// <param name="afterBlock">Called with each block's index in the shard and its output (T, H), inside this call's dispose scope.</param>
    /// <param name="beforeBlock">Called with each block's index and its input (T, H), before the block runs.</param>
    private Tensor RunBlocks(Tensor hidden, IReadOnlyList<SequenceChunk> chunks, int count, Action<int, Tensor>? afterBlock = null, Action<int, Tensor>? beforeBlock = null)
    {
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var step = StepLayout.Create(chunks, Config.ContextLength, Placement.Device);
        CheckHidden(hidden, step);
        foreach (var chunk in chunks)
        {
            chunk.Cache.Reserve(chunk.StartPosition + chunk.Length);
        }
        var x = hidden;
        for (var i = 0; i < count; i++)
        {
            beforeBlock?.Invoke(i, x);
            // A block's intermediates (a prompt's QKV and FFN activations: megabytes a layer) are freed when it ends, so
            // the next block reuses their memory instead of the step holding every layer's and the allocator
            // faulting in fresh pages for each (docs/PERFORMANCE.md, 7 December, late).
            using (var block = torch.NewDisposeScope())
            {
                x = _blocks[i].Forward(x, step, i).MoveToOuterDisposeScope(); // (T, H)
            }
            afterBlock?.Invoke(i, x);
        }
        return (ReferenceEquals(x, hidden) ? x.alias() : x).MoveToOuterDisposeScope();
    }

    /// <summary>Whether the hidden states after <paramref name="layer"/> (see <see cref="HiddenStatesAfter"/>) come out of this shard.</summary>
    public bool Produces(int layer) => layer == 0 ? HasEmbedding : layer > Layers.Start && layer <= Layers.End;

    /// <summary>
    /// The hidden states after decoder layer <paramref name="layer"/>, counted as transformers' <c>hidden_states</c>:
    /// 0 is the embeddings, k the output of block k-1, and the model's layer count the final norm's output (its
    /// <c>last_hidden_state</c>). <paramref name="hidden"/> is what this shard receives: the embeddings on the first
    /// shard (then pass the chunks' token ids through <see cref="Embed"/> first), the previous shard's output
    /// otherwise. Runs only the blocks needed and writes the chunks' caches for them: use caches made for the call.
    /// </summary>
    /// <returns>(T, H) for every packed token.</returns>
    public Tensor HiddenStatesAfter(Tensor hidden, IReadOnlyList<SequenceChunk> chunks, int layer)
    {
        if (!Produces(layer))
        {
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"Shard {Layers} does not produce the hidden states after layer {layer}.");
        }
        var states = RunBlocks(hidden, chunks, layer - Layers.Start); // (T, H)
        if (layer < Config.LayerCount)
        {
            return states;
        }
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        using (states)
        {
            var head = _head ?? throw new InvalidOperationException($"Shard {Layers} ends the model but holds no final norm.");
            return head.Normalize(states).MoveToOuterDisposeScope(); // (T, H)
        }
    }

    /// <summary>
    /// Final norm and LM head. By default only each chunk's last token, (chunks, V); with
    /// <paramref name="allPositions"/>, every packed token, (T, V); with <paramref name="onlyChunks"/>, only the last
    /// token of those chunks (indices into <paramref name="chunks"/>, in that order), (onlyChunks, V): a step computes
    /// the head, the largest matrix of a small model, only for the sequences that sample. float32.
    /// </summary>
    public Tensor Logits(Tensor hidden, IReadOnlyList<SequenceChunk> chunks, bool allPositions = false, IReadOnlyList<int>? onlyChunks = null)
    {
        var head = _head ?? throw new InvalidOperationException($"Shard {Layers} does not end at layer {Config.LayerCount} and holds no LM head.");
        if (allPositions && onlyChunks is not null)
        {
            throw new ArgumentException("Logits takes either allPositions or onlyChunks, not both.", nameof(onlyChunks));
        }
        using var scope = torch.NewDisposeScope();
        using var inference = torch.inference_mode();
        var step = StepLayout.Create(chunks, Config.ContextLength, Placement.Device);
        CheckHidden(hidden, step);
        var selected = onlyChunks ?? Enumerable.Range(0, chunks.Count).ToArray();
        var lastRows = new long[selected.Count];
        for (var i = 0; i < lastRows.Length; i++)
        {
            var c = selected[i];
            if ((uint)c >= (uint)chunks.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(onlyChunks), c, $"Chunk index {c} at position {i} is outside the step's {chunks.Count} chunks.");
            }
            lastRows[i] = step.Offsets[c] + chunks[c].Length - 1;
        }
        var rows = allPositions
            ? hidden
            : hidden.index_select(0, torch.tensor(lastRows, ScalarType.Int64, Placement.Device)); // (N, H)
        return head.Forward(rows).MoveToOuterDisposeScope(); // (N, V)
    }

    /// <summary>The whole model on one step: embed → layers → logits. Needs the shard of all layers.</summary>
    public Tensor Forward(IReadOnlyList<SequenceChunk> chunks, bool allPositions = false)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = Embed(chunks);
        hidden = RunLayers(hidden, chunks);
        return Logits(hidden, chunks, allPositions).MoveToOuterDisposeScope();
    }

    private long[] PackTokenIds(IReadOnlyList<SequenceChunk> chunks)
    {
        var ids = new long[chunks.Sum(c => c.Length)];
        var n = 0;
        for (var i = 0; i < chunks.Count; i++)
        {
            var tokens = chunks[i].TokenIds ?? throw new ArgumentException($"Chunk {i} carries no token ids; the embedding shard needs them.");
            foreach (var id in tokens)
            {
                if ((uint)id >= (uint)Config.VocabularySize)
                {
                    throw new ArgumentException($"Chunk {i} has token id {id}, outside the vocabulary [0, {Config.VocabularySize}).");
                }
                ids[n++] = id;
            }
        }
        return ids;
    }

    private void CheckHidden(Tensor hidden, StepLayout step)
    {
        if (hidden.dim() != 2 || hidden.shape[0] != step.TotalTokens || hidden.shape[1] != Config.HiddenSize)
        {
            throw new ArgumentException($"Hidden states have shape {TensorEntry.ShapeToText(hidden.shape)}; this step needs [{step.TotalTokens}, {Config.HiddenSize}].");
        }
    }

    public void Dispose()
    {
        _embedding?.Dispose();
        foreach (var block in _blocks)
        {
            block.Dispose();
        }
        _head?.Dispose();
        _rotary?.Dispose();
    }
}
