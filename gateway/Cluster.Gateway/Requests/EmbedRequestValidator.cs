using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Requests;

/// <summary>An Embed call checked and tokenized: what the stages receive.</summary>
/// <param name="Layer">The hidden states to pool, in transformers' hidden_states numbering (the layer count: the last).</param>
public sealed record EmbeddingRequest(string Model, int[][] Inputs, int Layer, EmbeddingPool Pool, bool Normalize)
{
    public int PromptTokens => Inputs.Sum(ids => ids.Length);
}

/// <summary>
/// Turns an Embed call into an <see cref="EmbeddingRequest"/>. A bad field is INVALID_ARGUMENT naming the field and
/// its limit. The limits bound what one call makes the stages hold: their caches live only for the call, outside the
/// KV budget of sessions, so the call's size is capped here.
/// </summary>
public static class EmbedRequestValidator
{
    public const int MaxInputs = 256;
    public const int MaxTotalTokens = 16384;

    /// <param name="layerCount">The model's decoder layers: the largest layer number, and the default.</param>
    public static EmbeddingRequest Validate(EmbedRequest request, string resolvedModel, CheckpointTokenizer tokenizer, ModelLimits limits, int layerCount)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Texts.Count > 0 && request.TokenInputs.Count > 0)
        {
            throw InvalidArgument.Error("input: send texts or token_inputs, not both");
        }
        var count = request.Texts.Count + request.TokenInputs.Count;
        if (count is 0 or > MaxInputs)
        {
            throw InvalidArgument.Error($"input has {count} inputs; send 1 to {MaxInputs}");
        }
        var addBos = PromptTokens.AddsBos(tokenizer, request.HasAddSpecialTokens ? request.AddSpecialTokens : null, freshSequence: true);
        var inputs = new int[count][];
        for (var i = 0; i < count; i++)
        {
            IReadOnlyList<int> ids;
            if (request.Texts.Count > 0)
            {
                PromptTokens.CheckTextLength(request.Texts[i], limits, $"input[{i}]");
                ids = PromptTokens.Encode(tokenizer, request.Texts[i], addBos);
            }
            else
            {
                ids = request.TokenInputs[i].Ids;
                PromptTokens.CheckInVocabulary(ids, limits, $"input[{i}]: token id");
            }
            if (ids.Count == 0 || ids.Count > limits.ContextLength)
            {
                throw InvalidArgument.Error($"input[{i}] has {ids.Count} tokens; it needs 1 to {limits.ContextLength} (the model's context length)");
            }
            inputs[i] = [.. ids];
        }
        var total = inputs.Sum(ids => ids.Length);
        if (total > MaxTotalTokens)
        {
            throw InvalidArgument.Error($"input has {total} tokens in all; at most {MaxTotalTokens} per call are allowed (split the inputs over several calls)");
        }
        var layer = request.HasLayer ? (int)Math.Min(request.Layer, int.MaxValue) : layerCount;
        if (layer > layerCount)
        {
            throw InvalidArgument.Error($"layer must be in [0, {layerCount}] (the model's hidden states: 0 the embeddings, {layerCount} the last); got {request.Layer}");
        }
        var pool = request.Pooling switch
        {
            EmbeddingPooling.Mean => EmbeddingPool.Mean,
            EmbeddingPooling.LastToken => EmbeddingPool.LastToken,
            _ => throw InvalidArgument.Error($"pooling {(int)request.Pooling} is not a pooling; use EMBEDDING_POOLING_MEAN or EMBEDDING_POOLING_LAST_TOKEN"),
        };
        return new EmbeddingRequest(resolvedModel, inputs, layer, pool, request.HasNormalize ? request.Normalize : true);
    }
}
