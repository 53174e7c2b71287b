using Cluster.Tokenizers;

namespace Cluster.Gateway.Requests;

/// <summary>
/// The checks and the BOS rule that Generate, Tokenize and CountTokens share: text length, token ids inside the
/// model's vocabulary, and BOS first only for a fresh sequence when asked (or by default) and the tokenizer adds one.
/// </summary>
public static class PromptTokens
{
    /// <summary>
    /// Whether BOS goes first: only at the start of a sequence (a one-shot request or a session's first turn), only
    /// when <paramref name="addSpecialTokens"/> is unset or true, and only when the checkpoint's tokenizer adds BOS.
    /// </summary>
    public static bool AddsBos(CheckpointTokenizer tokenizer, bool? addSpecialTokens, bool freshSequence) =>
        freshSequence && (addSpecialTokens ?? true) && tokenizer.AddsBosToken && tokenizer.BosTokenId is not null;

    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT when the text is longer than the model allows.</exception>
    public static void CheckTextLength(string text, ModelLimits limits, string field)
    {
        if (text.Length > limits.MaxPromptCharacters)
        {
            throw InvalidArgument.Error($"{field} is {text.Length} characters long; at most {limits.MaxPromptCharacters} are allowed");
        }
    }

    /// <summary>Text to ids with the model's tokenizer, BOS first when <paramref name="addBos"/>.</summary>
    public static IReadOnlyList<int> Encode(CheckpointTokenizer tokenizer, string text, bool addBos)
    {
        IReadOnlyList<int> ids = tokenizer.Encode(text, addBos: false);
        return addBos ? WithBos(ids, tokenizer.BosTokenId!.Value) : ids;
    }

    /// <summary>The ids with BOS put first, unless they already start with it (ids from Tokenize usually do).</summary>
    public static IReadOnlyList<int> WithBos(IReadOnlyList<int> ids, int bosTokenId)
    {
        if (ids.Count > 0 && ids[0] == bosTokenId)
        {
            return ids;
        }

        var withBos = new int[ids.Count + 1];
        withBos[0] = bosTokenId;
        for (int i = 0; i < ids.Count; i++)
        {
            withBos[i + 1] = ids[i];
        }

        return withBos;
    }

    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT naming the first id outside [0, vocabulary size).</exception>
    public static void CheckInVocabulary(IReadOnlyList<int> ids, ModelLimits limits, string what)
    {
        for (int i = 0; i < ids.Count; i++)
        {
            if (ids[i] < 0 || ids[i] >= limits.VocabularySize)
            {
                throw InvalidArgument.Error($"{what} {ids[i]} at index {i} is outside the vocabulary {InvalidArgument.VocabularyRange(limits.VocabularySize)}");
            }
        }
    }
}
