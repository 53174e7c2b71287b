using Cluster.Contracts.Stages;
using Cluster.Engine.Model;

namespace Cluster.Silo.Stages;

/// <summary>
/// Checks a batch against the stage before anything is touched, and throws <see cref="ArgumentException"/> saying
/// what is wrong (the gateway maps it to an invalid-argument error): a bad batch must not leave half a step behind.
/// </summary>
internal static class StageBatchValidator
{
    /// <summary>The most alternatives a scored chunk may ask for at each position (the API's top_logprobs limit).</summary>
    public const int MaxScoreTop = 20;

    public static void Validate(StageBatch batch, ModelShard shard)
    {
        if (batch?.Entries is not { Count: > 0 } entries)
        {
            throw new ArgumentException("A stage batch needs at least one entry.");
        }
        var config = shard.Config;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var totalTokens = 0;
        for (var i = 0; i < entries.Count; i++)
        {
            var entry = entries[i] ?? throw new ArgumentException($"Entry {i} is null.");
            var where = $"Entry {i} (session '{entry.SessionId}')";
            if (string.IsNullOrEmpty(entry.SessionId))
            {
                throw new ArgumentException($"Entry {i} has no session id.");
            }
            if (!seen.Add(entry.SessionId))
            {
                throw new ArgumentException($"{where}: the session appears twice in one batch; one entry per session per step.");
            }
            var inputs = entry.ContinuesSample ? ValidateContinuation(entry, shard, where) : entry.TokenIds?.Length ?? 0;
            if (inputs == 0)
            {
                throw new ArgumentException($"{where} has no token ids; an entry needs at least one.");
            }
            if (entry.StartPosition < 0 || entry.StartPosition + inputs > config.ContextLength)
            {
                throw new ArgumentException($"{where} covers positions [{entry.StartPosition}, {entry.StartPosition + inputs}), outside the model's context of {config.ContextLength}.");
            }
            foreach (var id in entry.TokenIds ?? [])
            {
                if ((uint)id >= (uint)config.VocabularySize)
                {
                    throw new ArgumentException($"{where} has token id {id}, outside the vocabulary [0, {config.VocabularySize}).");
                }
            }
            if (shard.HasHead && entry.Sampling is { } sampling)
            {
                ValidateSampling(sampling, config.VocabularySize, where);
            }
            if (entry.ScoreTop is < -1 or > MaxScoreTop || (entry.NextTokenId != -1 && ((uint)entry.NextTokenId >= (uint)config.VocabularySize || entry.ScoreTop < 0 || entry.Sampling is not null)))
            {
                throw new ArgumentException(
                    $"{where} asks to score with {entry.ScoreTop} alternatives and next token {entry.NextTokenId}; it needs -1 (no scoring) or 0 to {MaxScoreTop}, and a next token only when scoring a chunk that does not sample, inside the vocabulary.");
            }
            if (entry.Prefix is { } prefix && (string.IsNullOrEmpty(prefix.SessionId) || prefix.SessionId == entry.SessionId || prefix.TokenIds?.Length != entry.StartPosition))
            {
                throw new ArgumentException(
                    $"{where} names a cached prefix of {prefix.TokenIds?.Length ?? 0} tokens in session '{prefix.SessionId}'; it needs another session's id and exactly its start position ({entry.StartPosition}) of tokens.");
            }
            totalTokens += inputs;
        }
        ValidateHidden(batch.Hidden, shard, totalTokens);
    }

    /// <summary>A continuation's form (see <see cref="StageEntry.ContinuesSample"/>); its one input is resolved later, by <see cref="ContinuedEntries"/>.</summary>
    private static int ValidateContinuation(StageEntry entry, ModelShard shard, string where)
    {
        if (!shard.HasEmbedding || !shard.HasHead)
        {
            throw new ArgumentException($"{where} continues from its last sample; only a stage that both embeds and samples (a one-stage replica) takes such an entry.");
        }
        if (entry.TokenIds is not { Length: 0 } || entry.Sampling is null || entry.Prefix is not null)
        {
            throw new ArgumentException($"{where} continues from its last sample; such an entry has no token ids, no cached prefix, and samples.");
        }
        return 1;
    }

    public static void Validate(EmbedBatch batch, ModelShard shard)
    {
        if (batch?.Inputs is not { Length: > 0 } inputs)
        {
            throw new ArgumentException("An embed batch needs at least one input.");
        }
        var config = shard.Config;
        if (batch.Layer < 0 || batch.Layer > config.LayerCount)
        {
            throw new ArgumentException($"Embedding layer {batch.Layer} is outside [0, {config.LayerCount}] (the model's hidden states).");
        }
        if (batch.Layer <= shard.Layers.Start && !shard.Produces(batch.Layer))
        {
            throw new ArgumentException($"Embedding layer {batch.Layer} comes before this stage's layers {shard.Layers}: an earlier stage pools it.");
        }
        var totalTokens = 0;
        for (var i = 0; i < inputs.Length; i++)
        {
            if (inputs[i] is not { Length: > 0 } ids || ids.Length > config.ContextLength)
            {
                throw new ArgumentException($"Embedding input {i} has {inputs[i]?.Length ?? 0} tokens; it needs 1 to {config.ContextLength} (the model's context).");
            }
            foreach (var id in ids)
            {
                if ((uint)id >= (uint)config.VocabularySize)
                {
                    throw new ArgumentException($"Embedding input {i} has token id {id}, outside the vocabulary [0, {config.VocabularySize}).");
                }
            }
            totalTokens += ids.Length;
        }
        ValidateHidden(batch.Hidden, shard, totalTokens);
    }

    public static void Validate(InspectBatch batch, ModelShard shard, int maxTopN)
    {
        var config = shard.Config;
        if (batch?.TokenIds is not { Length: > 0 } ids || ids.Length > config.ContextLength)
        {
            throw new ArgumentException($"An inspect batch needs 1 to {config.ContextLength} token ids; got {batch?.TokenIds?.Length ?? 0}.");
        }
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)config.VocabularySize)
            {
                throw new ArgumentException($"Inspect token id {id} is outside the vocabulary [0, {config.VocabularySize}).");
            }
        }
        if (batch.AttentionRows < 0 || batch.AttentionRows > ids.Length)
        {
            throw new ArgumentException($"Inspect attention rows must be in [0, {ids.Length}] (the prompt's tokens); got {batch.AttentionRows}.");
        }
        if (batch.TopN < 1 || batch.TopN > maxTopN)
        {
            throw new ArgumentException($"Inspect top_n must be in [1, {maxTopN}]; got {batch.TopN}.");
        }
        if (batch.LensRows < 1 || batch.LensRows > ids.Length)
        {
            throw new ArgumentException($"Inspect lens rows must be in [1, {ids.Length}] (the prompt's tokens); got {batch.LensRows}.");
        }
        // Layers 0 to this stage's first layer come in: the embeddings, then every earlier block's output.
        var incoming = shard.HasEmbedding ? 0 : shard.Layers.Start + 1;
        if (batch.LayerStates is null || batch.LayerStates.Length != incoming || batch.LayerStates.Any(s => s?.Length != config.HiddenSize * batch.LensRows))
        {
            throw new ArgumentException($"Stage at layers {shard.Layers} needs the {incoming} earlier layers' states of {batch.LensRows} rows of width {config.HiddenSize}; got {batch.LayerStates?.Length ?? 0}.");
        }
        ValidateHidden(batch.Hidden, shard, ids.Length);
    }

    private static void ValidateSampling(SamplingRequest sampling, int vocabularySize, string where)
    {
        if (sampling.DrawIndex < 0)
        {
            throw new ArgumentException($"{where}: sampling draw index must be >= 0; got {sampling.DrawIndex}.");
        }
        if (sampling.Settings is null)
        {
            throw new ArgumentException($"{where}: sampling carries no settings.");
        }
        if (sampling.Settings.Format is { } format && (format.EndTokenIds is not { Length: > 0 } ends || ends.Any(id => (uint)id >= (uint)vocabularySize)))
        {
            throw new ArgumentException($"{where}: an output format needs end token ids within the vocabulary [0, {vocabularySize}); got [{string.Join(", ", format.EndTokenIds ?? [])}].");
        }
        if (sampling.Settings.Format is { Schema: not null, Pattern: not null })
        {
            throw new ArgumentException($"{where}: an output format has a schema or a pattern, not both.");
        }
        if (sampling.Settings.LogitBias is { } bias)
        {
            var ids = bias.TokenIds ?? [];
            if (ids.Length == 0 || ids.Length != bias.Biases?.Length)
            {
                throw new ArgumentException($"{where}: logit_bias needs one bias per token id and at least one; got {ids.Length} ids and {bias.Biases?.Length ?? 0} biases.");
            }
            for (var i = 0; i < ids.Length; i++)
            {
                if ((uint)ids[i] >= (uint)vocabularySize || (i > 0 && ids[i] <= ids[i - 1]))
                {
                    throw new ArgumentException($"{where}: logit_bias token ids must ascend within the vocabulary [0, {vocabularySize}); got {ids[i]} at index {i}.");
                }
            }
        }
        try
        {
            RequestSampler.Parameters(sampling.Settings).Validate();
        }
        catch (ArgumentException error)
        {
            throw new ArgumentException($"{where}: {error.Message}", error);
        }
    }

    private static void ValidateHidden(HiddenStates? hidden, ModelShard shard, int totalTokens)
    {
        if (shard.HasEmbedding)
        {
            if (hidden is not null)
            {
                throw new ArgumentException($"Stage at layers {shard.Layers} embeds the token ids itself; the batch must not carry hidden states.");
            }
            return;
        }
        if (hidden is null)
        {
            throw new ArgumentException($"Stage at layers {shard.Layers} needs the previous stage's hidden states; the batch carries none.");
        }
        var dtype = HiddenStateBytes.DTypeName(shard.Placement.DType);
        var expectedBytes = (long)totalTokens * shard.Config.HiddenSize * HiddenStateBytes.ElementSize(shard.Placement.DType);
        if (hidden.Tokens != totalTokens || hidden.Width != shard.Config.HiddenSize || hidden.DType != dtype || hidden.Data?.LongLength != expectedBytes)
        {
            throw new ArgumentException(
                $"Hidden states are [{hidden.Tokens}, {hidden.Width}] {hidden.DType} in {hidden.Data?.LongLength ?? 0} bytes; " +
                $"this step needs [{totalTokens}, {shard.Config.HiddenSize}] {dtype} in {expectedBytes} bytes.");
        }
    }
}
