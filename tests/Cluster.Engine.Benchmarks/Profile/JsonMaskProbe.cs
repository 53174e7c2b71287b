using System.Diagnostics;
using System.Text;
using Cluster.Engine.Sampling;
using Cluster.Engine.Sampling.Json;
using Cluster.JsonSchemas;
using Cluster.Testing;
using Cluster.Tokenizers;

namespace Cluster.Engine.Benchmarks.Profile;

/// <summary>
/// What JSON mode costs (<c>json-mask</c>): on issue #12's model's GPT-2 vocabulary (50,257 tokens), the token table's
/// build, one state's allowed set computed (the first time a state is met) and looked up (every later time), and one
/// greedy sampling step inside a JSON string with and without the constraint; then the same for structured outputs
/// on <see cref="Order"/> (a ten-property schema): its compile, each state's allowed set (the schema's automaton grows
/// its states during the first walk), and the greedy step. Medians.
/// </summary>
internal static class JsonMaskProbe
{
    private static readonly string[] Prefixes = ["{", "{\"", "{\"name\": ", "{\"name\": \"Al", "{\"a\": [1, 2", "{\"a\": {\"b\": tr"];

    /// <summary>An order as an application would ask for one: nested objects, an array, an enum, optional fields.</summary>
    private const string Order = """
        {"type": "object", "properties": {
            "id": {"type": "integer"}, "customer": {"type": "string"}, "email": {"type": ["string", "null"]},
            "status": {"enum": ["new", "paid", "shipped", "cancelled"]}, "express": {"type": "boolean"},
            "total": {"type": "number"}, "currency": {"type": "string", "maxLength": 3},
            "address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}, "zip": {"type": "string"}}, "required": ["city"]},
            "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}}, "required": ["sku", "quantity"]}, "maxItems": 20},
            "note": {"type": "string"}},
         "required": ["id", "customer", "status", "items"], "additionalProperties": false}
        """;

    private static readonly string[] SchemaPrefixes = ["{", "{\"id\": 12, \"customer\": \"Al", "{\"id\": 12, \"customer\": \"Al\", \"status\": \"", "{\"id\": 12, \"customer\": \"Al\", \"status\": \"new\", \"items\": [{\"sku\": \"A1\", \"quantity\": 3}, "];

    public static void Run(string[] args)
    {
        var directory = BenchmarkCheckpoints.Llama124MDirectory();
        var tokenizer = CheckpointTokenizer.Load(directory);
        var vocabulary = tokenizer.VocabularySize;
        var builds = Enumerable.Range(0, 5).Select(_ => Time(() => new JsonTokenTable(vocabulary, tokenizer.ContinuationBytes))).Order().ToArray();
        Console.WriteLine($"JSON mode on a {vocabulary}-token GPT-2 vocabulary: table built in {builds[2]:F1} ms (median of 5)");
        Console.WriteLine("| after | tokens allowed | first time: ms | remembered: µs |");
        Console.WriteLine("|---|---:|---:|---:|");
        foreach (var prefix in Prefixes)
        {
            var state = new JsonPrefixState();
            if (!state.Feed(Encoding.UTF8.GetBytes(prefix)))
            {
                throw new InvalidOperationException($"'{prefix}' is not the beginning of a JSON object.");
            }
            var first = Enumerable.Range(0, 5).Select(_ =>
            {
                var fresh = new JsonTokenTable(vocabulary, tokenizer.ContinuationBytes);
                return Time(() => fresh.Allowed(state));
            }).Order().ToArray();
            var table = new JsonTokenTable(vocabulary, tokenizer.ContinuationBytes);
            var allowed = table.Allowed(state).Sum(word => System.Numerics.BitOperations.PopCount(word));
            var remembered = Enumerable.Range(0, 9).Select(_ => Time(() => { for (var i = 0; i < 1000; i++) table.Allowed(state); })).Order().ToArray();
            Console.WriteLine($"| `{prefix}` | {allowed} | {first[2]:F2} | {remembered[4]:F2} |");
        }

        var step = new JsonTokenTable(vocabulary, tokenizer.ContinuationBytes);
        var random = new Random(1); // test data only
        var logits = Enumerable.Range(0, vocabulary).Select(_ => (float)random.NextDouble()).ToArray();
        var history = new List<int>(tokenizer.Encode("{\"name\": \"Al"));
        var constrained = new TokenSampler(new SamplingParameters { Temperature = 0f, Logprobs = false }, new JsonObjectConstraint(step, [.. tokenizer.EosTokenIds.DefaultIfEmpty(0)]));
        constrained.SkipSteps(history.Count); // the whole history is this request's output
        var free = new TokenSampler(new SamplingParameters { Temperature = 0f, Logprobs = false });
        double PerStep(TokenSampler sampler) =>
            Enumerable.Range(0, 9).Select(_ => Time(() => { for (var i = 0; i < 200; i++) sampler.Sample(logits, history); }) / 200).Order().ToArray()[4];
        PerStep(constrained); // warm: JIT and the state's allowed set
        Console.WriteLine($"greedy step inside a JSON string: {PerStep(constrained) * 1000:F1} µs with JSON mode, {PerStep(free) * 1000:F1} µs without (median of 9 × 200)");

        var compiles = Enumerable.Range(0, 9).Select(_ => Time(() => TextAutomaton.FromJsonSchema(Order))).Order().ToArray();
        Console.WriteLine($"structured outputs: a ten-property schema compiled in {compiles[4]:F2} ms (median of 9; {TextAutomaton.FromJsonSchema(Order).CompiledStates} automaton states)");
        Console.WriteLine("| after | tokens allowed | first time, fresh automaton: ms | first time, automaton warm: ms | remembered: µs |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var prefix in SchemaPrefixes)
        {
            int StateAfter(TextAutomaton automaton)
            {
                var state = automaton.Start;
                return automaton.TryFeed(ref state, Encoding.UTF8.GetBytes(prefix)) ? state : throw new InvalidOperationException($"'{prefix}' is not the beginning of an order.");
            }
            var cold = Enumerable.Range(0, 5).Select(_ =>
            {
                var automaton = TextAutomaton.FromJsonSchema(Order);
                var masks = new GrammarMasks<int, TextAutomatonGrammar>(step, new TextAutomatonGrammar(automaton));
                var state = StateAfter(automaton);
                return Time(() => masks.Allowed(state));
            }).Order().ToArray();
            var shared = TextAutomaton.FromJsonSchema(Order);
            new GrammarMasks<int, TextAutomatonGrammar>(step, new TextAutomatonGrammar(shared)).Allowed(StateAfter(shared)); // the automaton's states exist now
            var warm = Enumerable.Range(0, 5).Select(_ =>
            {
                var masks = new GrammarMasks<int, TextAutomatonGrammar>(step, new TextAutomatonGrammar(shared));
                return Time(() => masks.Allowed(StateAfter(shared)));
            }).Order().ToArray();
            var remembered = new GrammarMasks<int, TextAutomatonGrammar>(step, new TextAutomatonGrammar(shared));
            var at = StateAfter(shared);
            var allowed = remembered.Allowed(at).Sum(word => System.Numerics.BitOperations.PopCount(word));
            var lookups = Enumerable.Range(0, 9).Select(_ => Time(() => { for (var i = 0; i < 1000; i++) remembered.Allowed(at); })).Order().ToArray();
            Console.WriteLine($"| `{prefix}` | {allowed} | {cold[2]:F2} | {warm[2]:F2} | {lookups[4]:F2} |");
        }
        var schemaHistory = new List<int>(tokenizer.Encode("{\"id\": 12, \"customer\": \"Al"));
        var schemaMasks = new GrammarMasks<int, TextAutomatonGrammar>(step, new TextAutomatonGrammar(TextAutomaton.FromJsonSchema(Order)));
        var held = new TokenSampler(new SamplingParameters { Temperature = 0f, Logprobs = false }, new TextAutomatonConstraint(schemaMasks, [.. tokenizer.EosTokenIds.DefaultIfEmpty(0)]));
        held.SkipSteps(schemaHistory.Count);
        double SchemaStep() =>
            Enumerable.Range(0, 9).Select(_ => Time(() => { for (var i = 0; i < 200; i++) held.Sample(logits, schemaHistory); }) / 200).Order().ToArray()[4];
        SchemaStep(); // warm
        Console.WriteLine($"greedy step inside a string of the schema: {SchemaStep() * 1000:F1} µs with the schema, {PerStep(free) * 1000:F1} µs without (median of 9 × 200)");
    }

    private static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalMilliseconds;
    }
}
