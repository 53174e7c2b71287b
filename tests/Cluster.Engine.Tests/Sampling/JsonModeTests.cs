using System.Text;
using System.Text.Json;
using Cluster.Engine.Sampling;
using Cluster.Engine.Sampling.Json;

namespace Cluster.Engine.Tests.Sampling;

/// <summary>
/// JSON mode: the byte automaton accepts exactly the beginnings of one JSON object (cross-checked with System.Text.Json),
/// the token table allows exactly the tokens whose bytes the automaton accepts, and a sampler held to it writes an
/// object that parses, then only EOS, and resumes after a rebuild.
/// </summary>
public class JsonModeTests
{
    [Theory]
    [InlineData("{}")]
    [InlineData("{ \n}")]
    [InlineData("{\"a\": 1, \"b\": [true, false, null, -0.5e+10, 0, 12, 3.25E-2], \"c\": {\"d\": \"x\\\"y\\\\z\\u00e9\\n\"}}")]
    [InlineData("{\"emoji\": \"😀 한국어\", \"nested\": [[[], {}], [{\"k\": [1]}]]}")]
    public void EveryPrefixOfAnObjectIsAccepted_AndTheWholeIsComplete(string json)
    {
        var text = json;
        var state = new JsonPrefixState();
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var i = 0; i < bytes.Length; i++)
        {
            Assert.False(state.IsComplete, $"complete before byte {i} of {text}");
            Assert.True(state.Feed(bytes[i]), $"byte {i} ('{(char)bytes[i]}') of {text} refused");
        }
        Assert.True(state.IsComplete, $"{text} read to its end but not complete");
        Assert.False(state.Feed((byte)' '), "a byte after the closed object was accepted");
    }

    [Theory]
    [InlineData("[1]")]
    [InlineData("\"a\"")]
    [InlineData("{\"a\" 1}")]
    [InlineData("{\"a\":01}")]
    [InlineData("{\"a\":1,}")]
    [InlineData("{,}")]
    [InlineData("{\"a\":trux}")]
    [InlineData("{\"a\":\"\\x\"}")]
    [InlineData("{\"a\":\"\\u12g4\"}")]
    [InlineData("{\"a\":\"tab\there\"}")]
    [InlineData("{\"a\":-}")]
    [InlineData("{\"a\":1.}")]
    [InlineData("{\"a\":1e}")]
    [InlineData("{\"a\":[1}")]
    [InlineData("{\"a\":1]")]
    [InlineData("{}}")]
    [InlineData("{'a':1}")]
    [InlineData(" {}")]
    public void ABytesThatNoObjectCanHaveThereIsRefused(string text)
    {
        var state = new JsonPrefixState();
        var bytes = Encoding.UTF8.GetBytes(text);
        var accepted = 0;
        while (accepted < bytes.Length && state.Feed(bytes[accepted]))
        {
            accepted++;
        }
        Assert.True(accepted < bytes.Length, $"{text} was accepted whole");
        Assert.False(state.IsComplete && accepted == bytes.Length);
    }

    [Fact]
    public void NestingAndWhitespaceRunsHaveTheirLimits()
    {
        var state = new JsonPrefixState();
        Assert.True(state.Feed(Encoding.UTF8.GetBytes("{\"a\":" + new string('[', JsonPrefixState.MaxDepth - 1))));
        Assert.False(state.Feed((byte)'['), $"level {JsonPrefixState.MaxDepth + 1} opened");
        Assert.True(state.Feed(Encoding.UTF8.GetBytes(new string(' ', JsonPrefixState.MaxWhitespaceRun))));
        Assert.False(state.Feed((byte)'\n'), "whitespace past the run limit");
        Assert.True(state.Feed((byte)'1'));
    }

    [Fact]
    public void WhatTheAutomatonCallsCompleteParses_AndRandomObjectsAreAccepted()
    {
        var random = new Random(7); // test data only
        const string alphabet = "{}[]\":,. -+0123456789eEtrufalsn\\u\"ab \n";
        var completes = 0;
        for (var trial = 0; trial < 2000; trial++)
        {
            var valid = RandomObject(random, depth: 0);
            var state = new JsonPrefixState();
            Assert.True(state.Feed(Encoding.UTF8.GetBytes(valid)) && state.IsComplete, $"a valid object refused: {valid}");
            using (var parsed = JsonDocument.Parse(valid))
            {
                Assert.Equal(JsonValueKind.Object, parsed.RootElement.ValueKind);
            }

            // One byte changed: whatever the automaton still reads as a complete object must parse as one.
            var mutated = valid.ToCharArray();
            mutated[random.Next(mutated.Length)] = alphabet[random.Next(alphabet.Length)];
            var text = new string(mutated);
            var mutant = new JsonPrefixState();
            if (mutant.Feed(Encoding.UTF8.GetBytes(text)) && mutant.IsComplete)
            {
                completes++;
                using var document = JsonDocument.Parse(text); // throws on a false acceptance
                Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
            }
        }
        Assert.True(completes > 100, $"only {completes} mutants stayed valid: the cross-check saw too few");
    }

    [Fact]
    public void TheTableAllowsExactlyTheTokensWhoseBytesTheAutomatonAccepts()
    {
        var random = new Random(8);
        const string alphabet = "{}[]\":, 0123456789-.eEtruefalsnab\\";
        var tokens = Enumerable.Range(0, 3000).Select(_ => new string([.. Enumerable.Range(0, 1 + random.Next(5)).Select(_ => alphabet[random.Next(alphabet.Length)])])).ToList();
        tokens.AddRange(["{", "}", "\"", "\":", "\"a", "1", "1.5", "true", "  "]);
        var vocabulary = tokens.Count + 2; // two ids without bytes: never allowed
        var table = new JsonTokenTable(vocabulary, id => id < tokens.Count ? Encoding.UTF8.GetBytes(tokens[id]) : null);

        foreach (var prefix in new[] { "", "{", "{ ", "{\"", "{\"ab", "{\"a\":", "{\"a\": [1", "{\"a\": [1.", "{\"a\": tr", "{\"a\": \"x\\", "{\"a\": {} " })
        {
            var state = new JsonPrefixState();
            Assert.True(state.Feed(Encoding.UTF8.GetBytes(prefix)), prefix);
            var allowed = table.Allowed(state);
            for (var id = 0; id < vocabulary; id++)
            {
                var copy = state;
                var expected = id < tokens.Count && copy.Feed(Encoding.UTF8.GetBytes(tokens[id]));
                var actual = (allowed[id >> 6] >> (id & 63) & 1) == 1;
                Assert.True(expected == actual, $"after '{prefix}', token {id} '{(id < tokens.Count ? tokens[id] : "(none)")}': allowed {actual}, the automaton says {expected}");
            }
        }
    }

    /// <summary>A toy vocabulary of JSON pieces; the last id is EOS (no bytes).</summary>
    private static readonly string[] Pieces = ["{", "}", "[", "]", "\"", "\":", ":", "a", "b", "1", "0", ".5", ",", " ", "\n", "true", "null", "\"k\":", "x}", "-"];
    private static int Eos => Pieces.Length;

    private static JsonTokenTable ToyTable() => new(Pieces.Length + 1, id => id < Pieces.Length ? Encoding.UTF8.GetBytes(Pieces[id]) : null);

    [Fact]
    public void ASamplerHeldToJsonWritesObjectsThatParse_ThenOnlyEos()
    {
        var table = ToyTable();
        for (ulong seed = 1; seed <= 20; seed++)
        {
            var sampler = new TokenSampler(new SamplingParameters { Seed = seed, Temperature = 1f, Logprobs = false }, new JsonObjectConstraint(table, [Eos]));
            var random = new Random((int)seed);
            var history = new List<int>();
            while (history.Count < 400 && (history.Count == 0 || history[^1] != Eos))
            {
                // Random logits that favour closing brackets, so the objects end.
                var logits = Enumerable.Range(0, Pieces.Length + 1).Select(id => (float)random.NextDouble() * 3 + (id is 1 or 3 ? 2f : 0f)).ToArray();
                history.Add(sampler.Sample(logits, history).TokenId);
            }
            Assert.True(history[^1] == Eos, $"seed {seed}: no EOS in 400 tokens: {Text(history)}");
            var text = Text(history[..^1]);
            using var document = JsonDocument.Parse(text);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        }
    }

    [Fact]
    public void ARebuiltSamplerResumesFromTheHistory_AndGreedyStopsAtTheObjectsEnd()
    {
        var table = ToyTable();
        var logits = Enumerable.Range(0, Pieces.Length + 1).Select(id => (float)Math.Sin(id * 1.7) + (id == 1 ? 0.9f : 0f)).ToArray();
        var parameters = new SamplingParameters { Seed = 5, Temperature = 0.8f, Logprobs = false };
        var full = FixedLogitsGeneration.Generate(new TokenSampler(parameters, new JsonObjectConstraint(table, [Eos])), logits, [], 60);

        var rebuilt = new TokenSampler(parameters, new JsonObjectConstraint(table, [Eos]));
        rebuilt.SkipSteps(10);
        var resumed = FixedLogitsGeneration.Generate(rebuilt, logits, full[..10], 50);
        Assert.True(full[10..].SequenceEqual(resumed), $"whole [{string.Join(",", full)}], resumed after 10 [{string.Join(",", resumed)}]");

        var greedy = FixedLogitsGeneration.Generate(new TokenSampler(new SamplingParameters { Temperature = 0f }, new JsonObjectConstraint(table, [Eos])), logits, [], 60);
        var end = greedy.IndexOf(Eos);
        Assert.True(end > 0, $"greedy never closed its object: {Text(greedy)}");
        Assert.True(greedy[end..].All(id => id == Eos), "after the object, only EOS");
        using var document = JsonDocument.Parse(Text(greedy[..end]));
    }

    [Fact]
    public void WithoutAnEndTokenACompleteObjectLeavesNothingToSample()
    {
        var table = ToyTable();
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0f }, new JsonObjectConstraint(table, []));
        var logits = new float[Pieces.Length + 1];
        var error = Assert.Throws<InvalidOperationException>(() =>
        {
            var history = new List<int>();
            for (var step = 0; step < 5; step++)
            {
                logits[1] = 5f; // "}" as soon as it may come: "{" then "}"
                history.Add(sampler.Sample(logits, history).TokenId);
            }
        });
        Assert.Contains("-inf", error.Message);
    }

    [Fact]
    public void AVocabularyThatCannotContinueTheObjectEndsItWithEos_InsteadOfFailingTheStep()
    {
        // No ':' anywhere: after a key's closing quote nothing but EOS can come.
        string[] pieces = ["{", "\"", "a", "}"];
        var table = new JsonTokenTable(pieces.Length + 1, id => id < pieces.Length ? Encoding.UTF8.GetBytes(pieces[id]) : null);
        var sampler = new TokenSampler(new SamplingParameters { Temperature = 0f }, new JsonObjectConstraint(table, [pieces.Length]));
        float[] logits = [0f, 3f, 1f, 2f, 5f]; // EOS most likely of all, '"' next
        var history = new List<int>();
        for (var step = 0; step < 4; step++)
        {
            history.Add(sampler.Sample(logits, history).TokenId);
        }
        // '{'; then '"' (EOS and '}' are masked: an object opens with a key); '"' (3 beats 'a') closes the empty key;
        // then the colon no token spells: only EOS.
        Assert.True(history.SequenceEqual([0, 1, 1, 4]), $"drew [{string.Join(",", history)}]");
    }

    private static string Text(IEnumerable<int> ids) => string.Concat(ids.Select(id => id < Pieces.Length ? Pieces[id] : "<eos>"));

    private static string RandomObject(Random random, int depth)
    {
        var members = random.Next(depth > 3 ? 1 : 4);
        var parts = Enumerable.Range(0, members).Select(i => $"\"k{i}\":{(random.Next(2) == 0 ? " " : "")}{RandomValue(random, depth + 1)}");
        return "{" + string.Join(random.Next(2) == 0 ? "," : ", ", parts) + "}";
    }

    private static string RandomValue(Random random, int depth) => random.Next(depth > 3 ? 5 : 7) switch
    {
        0 => "true",
        1 => "null",
        2 => (random.NextDouble() * 2000 - 1000).ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        3 => "\"s\\n\\u00e9" + random.Next(100) + "\"",
        4 => random.Next(10).ToString(System.Globalization.CultureInfo.InvariantCulture),
        5 => "[" + string.Join(",", Enumerable.Range(0, random.Next(3)).Select(_ => RandomValue(random, depth + 1))) + "]",
        _ => RandomObject(random, depth),
    };
}
