using System.Text;
using System.Text.Json;
using Cluster.Engine.Sampling;
using Cluster.Engine.Sampling.Json;
using Cluster.JsonSchemas;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// Structured outputs in the sampler: the masks allow exactly the tokens whose bytes the schema's automaton accepts, a
/// sampler held to a schema writes values the automaton completes (then only EOS), a rebuilt one resumes from the
/// history, and where a value may both end and go on (a number at the root) EOS and the continuations compete.
/// </summary>
public class JsonSchemaModeTests
{
    private const string Schema = """
        {"type": "object", "properties": {
            "ok": {"type": "boolean"},
            "size": {"enum": ["s", "m", "l"]},
            "n": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}, "maxItems": 2}},
         "required": ["ok", "size"], "additionalProperties": false}
        """;

    /// <summary>Pieces of JSON and of the schema's names; the last id is EOS (no bytes).</summary>
    private static readonly string[] Pieces =
    [
        "{", "}", "[", "]", "\"", "\":", ":", ",", " ", "\n", "true", "false", "null", "\"ok\":", "ok", "size", "\"s\"", "m", "l\"",
        "n", "tags", "1", "0", "-", "12", "a", "bc\"", "\",\"", "\"}", ",\"", "x",
    ];

    private static int Eos => Pieces.Length;

    private static GrammarMasks<int, TextAutomatonGrammar> Masks(string schema) =>
        new(new JsonTokenTable(Pieces.Length + 1, id => id < Pieces.Length ? Encoding.UTF8.GetBytes(Pieces[id]) : null),
            new TextAutomatonGrammar(TextAutomaton.FromJsonSchema(schema)));

    [Fact]
    public void TheMasksAllowExactlyTheTokensWhoseBytesTheAutomatonAccepts()
    {
        var automaton = TextAutomaton.FromJsonSchema(Schema);
        var masks = new GrammarMasks<int, TextAutomatonGrammar>(
            new JsonTokenTable(Pieces.Length + 1, id => id < Pieces.Length ? Encoding.UTF8.GetBytes(Pieces[id]) : null), new TextAutomatonGrammar(automaton));
        foreach (var prefix in new[] { "", "{", "{\"ok\":", "{\"ok\": true,", "{\"ok\":false,\"size\":\"m", "{\"ok\":true,\"size\":\"l\",\"n\":1", "{\"ok\":true,\"size\":\"s\",\"tags\":[\"a" })
        {
            var state = automaton.Start;
            Assert.True(automaton.TryFeed(ref state, Encoding.UTF8.GetBytes(prefix)), prefix);
            var allowed = masks.Allowed(state);
            for (var id = 0; id <= Pieces.Length; id++)
            {
                var copy = state;
                var expected = id < Pieces.Length && automaton.TryFeed(ref copy, Encoding.UTF8.GetBytes(Pieces[id]));
                var actual = (allowed[id >> 6] >> (id & 63) & 1) == 1;
                Assert.True(expected == actual, $"after '{prefix}', token {id} '{(id < Pieces.Length ? Pieces[id] : "(eos)")}': allowed {actual}, the automaton says {expected}");
            }
        }
    }

    [Fact]
    public void ASamplerHeldToASchemaWritesValuesItAllows_ThenOnlyEos()
    {
        var automaton = TextAutomaton.FromJsonSchema(Schema);
        var masks = Masks(Schema);
        var ended = 0;
        for (ulong seed = 1; seed <= 20; seed++)
        {
            var sampler = new TokenSampler(new SamplingParameters { Seed = seed, Temperature = 1f, Logprobs = false }, new TextAutomatonConstraint(masks, [Eos]));
            var random = new Random((int)seed); // test data only
            var history = new List<int>();
            while (history.Count < 300 && (history.Count == 0 || history[^1] != Eos))
            {
                // Random logits that favour closing brackets and quotes, so the values end.
                var logits = Enumerable.Range(0, Pieces.Length + 1).Select(id => (float)random.NextDouble() * 3 + (Pieces.ElementAtOrDefault(id) is "}" or "]" or "\"" or "\"}" ? 2f : 0f)).ToArray();
                history.Add(sampler.Sample(logits, history).TokenId);
            }
            if (history[^1] != Eos)
            {
                continue;
            }
            ended++;
            var text = Text(history[..^1]);
            var state = automaton.Start;
            Assert.True(automaton.TryFeed(ref state, Encoding.UTF8.GetBytes(text)) && automaton.CanEnd(state), $"seed {seed}: wrote {text}, which the schema's automaton does not complete");
            using var document = JsonDocument.Parse(text);
            Assert.True(document.RootElement.GetProperty("size").GetString() is "s" or "m" or "l", text);
        }
        Assert.True(ended >= 15, $"only {ended} of 20 samplers reached EOS within 300 tokens");
    }

    [Fact]
    public void ARebuiltSamplerResumesFromTheHistory()
    {
        var masks = Masks(Schema);
        var logits = Enumerable.Range(0, Pieces.Length + 1).Select(id => (float)Math.Sin(id * 1.3)).ToArray();
        var parameters = new SamplingParameters { Seed = 9, Temperature = 0.9f, Logprobs = false };
        var full = FixedLogitsGeneration.Generate(new TokenSampler(parameters, new TextAutomatonConstraint(masks, [Eos])), logits, [], 40);

        var rebuilt = new TokenSampler(parameters, new TextAutomatonConstraint(Masks(Schema), [Eos]));
        rebuilt.SkipSteps(7);
        var resumed = FixedLogitsGeneration.Generate(rebuilt, logits, full[..7], 33);
        Assert.True(full[7..].SequenceEqual(resumed), $"whole [{string.Join(",", full)}], resumed after 7 [{string.Join(",", resumed)}]");
    }

    [Fact]
    public void WhereTheValueMayEndOrGoOn_EosCompetesWithTheContinuations()
    {
        // A number at the root: after "1" both EOS and more digits are allowed; before any digit EOS is not.
        var masks = Masks("""{"type": "integer"}""");
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0f }, new TextAutomatonConstraint(masks, [Eos]));
        var logits = new float[Pieces.Length + 1];
        logits[Eos] = 9f;
        logits[Array.IndexOf(Pieces, "1")] = 5f;
        logits[Array.IndexOf(Pieces, "12")] = 4f;
        var history = new List<int>();
        history.Add(sampler.Sample(logits, history).TokenId);
        history.Add(sampler.Sample(logits, history).TokenId);
        Assert.True(history.SequenceEqual([Array.IndexOf(Pieces, "1"), Eos]), $"drew [{string.Join(",", history)}] ({Text(history)})");
    }

    private static string Text(IEnumerable<int> ids) => string.Concat(ids.Select(id => id < Pieces.Length ? Pieces[id] : "<eos>"));
}
