namespace Cluster.Engine.Sampling.Json;

/// <summary>
/// A language over UTF-8 bytes read one byte at a time: where a text stands is a small state that can be copied and
/// compared (a search keeps one per byte of a token and remembers what each state allows). Implemented by structs, so
/// the vocabulary walk in <see cref="JsonTokenTable"/> is compiled for each grammar without interface calls.
/// </summary>
public interface IByteGrammar<TState> where TState : struct, IEquatable<TState>
{
    /// <summary>The state before the first byte.</summary>
    TState Start { get; }

    /// <summary>Moves <paramref name="state"/> past <paramref name="b"/>; false (and the state unchanged) when no text of the language continues so.</summary>
    bool Feed(ref TState state, byte b);

    /// <summary>The text read to <paramref name="state"/> is a whole text of the language: the end tokens may follow.</summary>
    bool CanEnd(TState state);
}
