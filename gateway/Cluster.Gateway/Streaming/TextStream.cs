using System.Text;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Streaming;

/// <summary>
/// The text of one generated sequence, as it may be sent: sampled ids go in one at a time, text deltas come out.
/// The tokenizer's <see cref="StreamingDetokenizer"/> keeps every delta whole UTF-8; on top of it, text that could
/// still be the beginning of a stop sequence is held back until it either completes one (the text before it is
/// sent, the stop text never is, and the stream is <see cref="Stopped"/>) or cannot any more (it is sent).
/// <see cref="Finish"/> sends what is held when the sequence ends for another reason. Not thread-safe: one per sequence.
/// </summary>
public sealed class TextStream
{
    private readonly StreamingDetokenizer _detokenizer;
    private readonly StopSequenceMatcher? _stops;
    private readonly StringBuilder _held = new();
    private bool _finished;

    public TextStream(StreamingDetokenizer detokenizer, StopSequenceMatcher? stopSequences)
    {
        ArgumentNullException.ThrowIfNull(detokenizer);
        _detokenizer = detokenizer;
        _stops = stopSequences is { Count: > 0 } ? stopSequences : null;
    }

    /// <summary>A stream for one sequence of a request with these stop sequences (none: plain detokenization).</summary>
    public static TextStream Create(CheckpointTokenizer tokenizer, IReadOnlyList<string> stopSequences, bool skipSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(stopSequences);
        return new TextStream(
            tokenizer.CreateStreamingDetokenizer(skipSpecialTokens),
            stopSequences.Count == 0 ? null : new StopSequenceMatcher(stopSequences));
    }

    /// <summary>The stop sequence that ended the stream; null while it runs or when it ended otherwise.</summary>
    public string? StopSequence { get; private set; }

    public bool Stopped => StopSequence is not null;

    /// <summary>Characters held back because they could begin a stop sequence.</summary>
    public int HeldLength => _held.Length;

    /// <summary>
    /// Feeds one sampled id; returns the text that may be sent now (possibly empty). When a stop sequence completes,
    /// the returned text ends just before it and <see cref="TextDelta.Stopped"/> is set: the sequence is finished.
    /// </summary>
    /// <exception cref="InvalidOperationException">The stream already stopped or finished.</exception>
    public TextDelta Push(int tokenId)
    {
        EnsureRunning();
        return Release(_detokenizer.Push(tokenId), final: false);
    }

    /// <summary>
    /// Ends the stream (max_new_tokens, EOS, a stop token id, cancellation): returns whatever is still held, including
    /// an unfinished character as U+FFFD. A stop sequence completed by that last text still cuts it.
    /// </summary>
    /// <exception cref="InvalidOperationException">The stream already stopped or finished.</exception>
    public TextDelta Finish()
    {
        EnsureRunning();
        TextDelta last = Release(_detokenizer.Flush(), final: true);
        _finished = true;
        return last;
    }

    private TextDelta Release(string text, bool final)
    {
        if (_stops is null)
        {
            return new TextDelta(text, null);
        }

        _held.Append(text);
        if (_held.Length == 0)
        {
            return TextDelta.Empty;
        }

        // What was held before could not hold a whole stop sequence, so one can only end in the new text: the held
        // text is short (shorter than the longest stop sequence) and so is each delta, so this scan stays cheap.
        string window = _held.ToString();
        StopScan scan = _stops.Scan(window);
        if (scan.Found)
        {
            StopSequence = scan.Stop;
            _held.Clear();
            return new TextDelta(window[..scan.StopStart], scan.Stop);
        }

        int send = final ? window.Length : scan.HoldFrom;
        _held.Remove(0, send);
        return new TextDelta(window[..send], null);
    }

    private void EnsureRunning()
    {
        if (Stopped)
        {
            throw new InvalidOperationException($"The stream stopped at the stop sequence \"{StopSequence}\"; it takes no more tokens.");
        }

        if (_finished)
        {
            throw new InvalidOperationException("The stream has finished; it takes no more tokens.");
        }
    }
}

/// <summary>Text that may be sent now, and the stop sequence that ended the stream with it (null while it runs).</summary>
public readonly record struct TextDelta(string Text, string? StopSequence)
{
    public static TextDelta Empty { get; } = new("", null);

    public bool Stopped => StopSequence is not null;
}
