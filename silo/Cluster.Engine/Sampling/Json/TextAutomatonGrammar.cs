using Cluster.JsonSchemas;

namespace Cluster.Engine.Sampling.Json;

/// <summary>Structured outputs' language: the JSON texts a schema allows, read by its compiled automaton (states are ints).</summary>
public readonly struct TextAutomatonGrammar(TextAutomaton automaton) : IByteGrammar<int>
{
    public int Start => automaton.Start;

    public bool Feed(ref int state, byte b) => automaton.TryFeed(ref state, b);

    public bool CanEnd(int state) => automaton.CanEnd(state);
}
