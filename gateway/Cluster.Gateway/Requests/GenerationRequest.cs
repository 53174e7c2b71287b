using Cluster.Contracts.Sampling;

namespace Cluster.Gateway.Requests;

/// <summary>
/// A validated Generate call, ready for the scheduler: the prompt as token ids, the sampling settings every stage
/// receives (every default resolved; a seed is always set, drawn by the gateway when the client sent none, so replays
/// after a failover sample the same tokens), what stops the sequence, and the limits already checked.
/// </summary>
/// <param name="Sampling">What samples: sent unchanged to the last stage, whose <c>RequestSampler</c> maps it to the engine.</param>
/// <param name="MaxNewTokens">What stops, with the stop sequences, the stop token ids and EOS: the gateway's stop checks.</param>
/// <param name="HistoryKept">
/// How many leading tokens of the session's history the prompt continues: all of them for text and token ids; for
/// messages, the prefix the rendered conversation repeats (what follows it is dropped from the session and
/// recomputed). 0 for a one-shot request.
/// </param>
/// <param name="Tools">A chat request's tools (the answer's calls are read with them when it finishes), or null.</param>
/// <param name="PromptLogprobs">Score the prompt with this many alternatives per position (null: do not); one-shot requests only.</param>
public sealed record GenerationRequest(
    string RequestId,
    string Model,
    IReadOnlyList<int> PromptTokens,
    string? SessionId,
    SamplingSettings Sampling,
    int MaxNewTokens,
    IReadOnlyList<string> StopSequences,
    IReadOnlyList<int> StopTokenIds,
    bool IgnoreEos,
    int HistoryKept = 0,
    ChatTools? Tools = null,
    int? PromptLogprobs = null)
{
    /// <summary>Return each token's log-probability (also true when <see cref="SamplingSettings.TopLogprobs"/> &gt; 0): the sampler computes them only then.</summary>
    public bool Logprobs => Sampling.Logprobs;
}
