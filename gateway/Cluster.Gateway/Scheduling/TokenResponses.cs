using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Scheduling;

/// <summary>Builds the streamed messages of a model's requests: tokens with their log-probabilities, and the final usage and timings.</summary>
/// <param name="stageSilos">Where the stages were at startup: named when a step did not say where it ran.</param>
internal sealed class TokenResponses(CheckpointTokenizer tokenizer, IReadOnlyList<int> eosTokenIds, IReadOnlyList<string> stageSilos)
{
    public FinishReason FinishReasonAfter(RunningSequence sequence, int tokenId)
    {
        var request = sequence.Request;
        if ((!request.IgnoreEos && eosTokenIds.Contains(tokenId)) || request.StopTokenIds.Contains(tokenId))
        {
            return FinishReason.Stop;
        }
        return sequence.Generated >= request.MaxNewTokens ? FinishReason.Length : FinishReason.Unspecified;
    }

    public GenerateResponse ForToken(RunningSequence sequence, SampledTokenResult token, string delta)
    {
        var response = new GenerateResponse { Text = delta };
        response.TokenIds.Add(token.TokenId);
        if (sequence.Generated == 1 && sequence.PromptScores is { } scores)
        {
            response.PromptLogprobs.AddRange(scores.Entries(tokenizer));
            response.PromptTokenIds.AddRange(sequence.Request.PromptTokens);
        }
        if (sequence.Request.Logprobs)
        {
            var logprobs = new TokenLogprobs { TokenId = token.TokenId, Logprob = token.Logprob, Piece = tokenizer.TokenPiece(token.TokenId) };
            for (var i = 0; i < token.TopTokenIds.Length; i++)
            {
                logprobs.Top.Add(new TokenLogprob { TokenId = token.TopTokenIds[i], Logprob = token.TopLogprobs[i], Piece = tokenizer.TokenPiece(token.TopTokenIds[i]) });
            }
            response.Logprobs.Add(logprobs);
        }
        return response;
    }

    public void Complete(RunningSequence sequence, FinishReason reason, GenerateResponse last)
    {
        var elapsed = sequence.Clock.Elapsed;
        last.FinishReason = reason;
        last.SessionId = sequence.Request.SessionId ?? "";
        last.RequestId = sequence.Request.RequestId;
        last.Usage = new Usage
        {
            PromptTokens = (uint)sequence.Request.PromptTokens.Count,
            GeneratedTokens = (uint)sequence.Generated,
            CachedPromptTokens = (uint)sequence.CachedAtStart,
        };
        last.Timings = new Timings
        {
            QueueSeconds = (sequence.QueueTime ?? elapsed).TotalSeconds,
            TimeToFirstTokenSeconds = (sequence.TimeToFirstToken ?? elapsed).TotalSeconds,
            TotalSeconds = elapsed.TotalSeconds,
            Steps = (uint)sequence.Steps.Count,
        };
        for (var s = 0; s < sequence.Steps.ComputeSeconds.Count; s++)
        {
            last.Timings.Stages.Add(new StageTiming
            {
                Stage = (uint)s,
                Silo = sequence.Steps.SiloOf(s) ?? (s < stageSilos.Count ? stageSilos[s] : ""),
                ComputeSeconds = sequence.Steps.ComputeSeconds[s],
                OverheadSeconds = Math.Max(0, sequence.Steps.RoundTripSeconds[s] - sequence.Steps.ComputeSeconds[s]),
                IdleSeconds = sequence.Steps.IdleSeconds[s],
            });
        }
    }
}
