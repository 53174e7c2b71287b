using Cluster.Contracts.Api;
using Cluster.Contracts.Stages;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// The output step (vLLM's output processing, after schedule and execute): a sampled token becomes the sequence's
/// next token, its text delta and its stream message, and the stop rules (stop sequences, stop tokens, EOS, length)
/// say whether the sequence ends there; an ending sequence gets its closing message (held-back text, usage,
/// timings). It neither retires sequences nor records metrics: the scheduler loop owns the queues and the telemetry.
/// </summary>
internal sealed class OutputProcessor(TokenResponses responses)
{
    /// <summary>
    /// Appends <paramref name="token"/> to the sequence. If the sequence goes on, streams the token's message and
    /// returns <see cref="FinishReason.Unspecified"/>; otherwise returns why it ends, and <paramref name="message"/>
    /// (not yet streamed) is to be closed by <see cref="Closing"/>.
    /// </summary>
    public FinishReason Append(RunningSequence sequence, SampledTokenResult token, out GenerateResponse message)
    {
        sequence.Tokens.Add(token.TokenId);
        sequence.Generated++;
        var delta = sequence.Text.Push(token.TokenId);
        var finish = delta.Stopped ? FinishReason.Stop : responses.FinishReasonAfter(sequence, token.TokenId);
        message = responses.ForToken(sequence, token, delta.Text);
        if (finish == FinishReason.Unspecified)
        {
            sequence.Output.Write(message);
        }
        return finish;
    }

    /// <summary>The last message of a sequence that ends for <paramref name="reason"/>, built on <paramref name="last"/> when its last token is in it.</summary>
    public GenerateResponse Closing(RunningSequence sequence, FinishReason reason, GenerateResponse? last = null)
    {
        last ??= new GenerateResponse();
        if (!sequence.Text.Stopped)
        {
            last.Text += sequence.Text.Finish().Text; // what was held back for a stop sequence that never came
        }
        responses.Complete(sequence, reason, last);
        return last;
    }
}
