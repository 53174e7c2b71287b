using Cluster.Contracts.Api;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Requests;

/// <summary>
/// Tokenize, CountTokens and Detokenize, checked and carried out: empty text is fine (zero tokens, or BOS alone),
/// text over the model's character limit and ids outside its vocabulary are INVALID_ARGUMENT. The BOS rule is
/// Generate's for a fresh sequence, so CountTokens says what Generate will report as prompt tokens.
/// </summary>
public static class TokenizerRequestValidator
{
    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT when the text is too long.</exception>
    public static IReadOnlyList<int> Tokenize(TokenizeRequest request, CheckpointTokenizer tokenizer, ModelLimits limits)
    {
        ArgumentNullException.ThrowIfNull(request);
        PromptTokens.CheckTextLength(request.Text, limits, "text");
        bool addBos = PromptTokens.AddsBos(tokenizer, request.HasAddSpecialTokens ? request.AddSpecialTokens : null, freshSequence: true);
        return PromptTokens.Encode(tokenizer, request.Text, addBos);
    }

    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT when the text is too long.</exception>
    public static int CountTokens(CountTokensRequest request, CheckpointTokenizer tokenizer, ModelLimits limits)
    {
        ArgumentNullException.ThrowIfNull(request);
        PromptTokens.CheckTextLength(request.Text, limits, "text");
        bool addBos = PromptTokens.AddsBos(tokenizer, request.HasAddSpecialTokens ? request.AddSpecialTokens : null, freshSequence: true);
        if (!addBos)
        {
            return tokenizer.CountTokens(request.Text, addBos: false);
        }

        // Generate does not add BOS twice when the text itself starts with it, so count the same way.
        IReadOnlyList<int> ids = PromptTokens.Encode(tokenizer, request.Text, addBos: true);
        return ids.Count;
    }

    /// <summary>
    /// The ids to decode: every id must be in the model's vocabulary; ids the tokenizer has no piece for (models pad
    /// their embedding past the tokenizer's vocabulary) have no text and are left out, as in a generated stream.
    /// </summary>
    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT naming the first id outside the vocabulary.</exception>
    public static string Detokenize(DetokenizeRequest request, CheckpointTokenizer tokenizer, ModelLimits limits)
    {
        ArgumentNullException.ThrowIfNull(request);
        IReadOnlyList<int> ids = request.TokenIds;
        PromptTokens.CheckInVocabulary(ids, limits, "token_ids: token id");
        return tokenizer.Decode(ids.Where(tokenizer.Knows), request.SkipSpecialTokens);
    }
}
