using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// A scored prompt's log-probabilities as the last stage returns them, chunk by chunk: kept by position, so a chunk
/// computed again (a retry, a replay after a lost cache) writes the same values over the same places.
/// </summary>
internal sealed class PromptScoreBook(IReadOnlyList<int> prompt, int top)
{
    private readonly float[] _logprobs = Enumerable.Repeat(float.NaN, prompt.Count).ToArray(); // by position; 0 has none
    private readonly int[] _topIds = new int[prompt.Count * top];
    private readonly float[] _topLogprobs = new float[prompt.Count * top];

    public void Record(PromptScores scores)
    {
        for (var k = 0; k < scores.Logprobs.Length; k++)
        {
            var position = scores.FirstPosition + k;
            if (position < 1 || position >= prompt.Count)
            {
                continue; // a replayed chunk's generated tokens: not the prompt's
            }
            _logprobs[position] = scores.Logprobs[k];
            Array.Copy(scores.TopTokenIds, k * top, _topIds, position * top, top);
            Array.Copy(scores.TopLogprobs, k * top, _topLogprobs, position * top, top);
        }
    }

    /// <summary>One entry per prompt token after the first (NaN where a position was never scored, which the scheduler does not let happen).</summary>
    public IEnumerable<TokenLogprobs> Entries(CheckpointTokenizer tokenizer)
    {
        for (var position = 1; position < prompt.Count; position++)
        {
            var entry = new TokenLogprobs { TokenId = prompt[position], Logprob = _logprobs[position], Piece = tokenizer.TokenPiece(prompt[position]) };
            for (var j = 0; j < top; j++)
            {
                var id = _topIds[position * top + j];
                entry.Top.Add(new TokenLogprob { TokenId = id, Logprob = _topLogprobs[position * top + j], Piece = tokenizer.TokenPiece(id) });
            }
            yield return entry;
        }
    }
}
