using Cluster.Tokenizers;

namespace Cluster.Gateway.Scheduling;

/// <summary>
/// Turns a sequence's sampled tokens into text deltas for the client: never a broken UTF-8 sequence, and the
/// request's stop sequences applied at the text level.
/// </summary>
internal sealed class SequenceText(StreamingDetokenizer detokenizer)
{
    /// <summary>The text this token completes, and whether a stop sequence ended the sequence.</summary>
    public (string Delta, bool Stopped) Append(int tokenId) => (detokenizer.Push(tokenId), false);

    /// <summary>What is still held back, at the end of the sequence.</summary>
    public string Flush() => detokenizer.Flush();
}
