using System.Text;
using System.Text.Json;
using Cluster.JsonSchemas;
using Json.Schema;

namespace Cluster.JsonSchemas.Tests;

/// <summary>
/// JSON Schema's pattern and the enforced formats: the automaton accepts a string exactly when its text matches the
/// pattern (checked against .NET's ECMAScript regex on the same strings, unanchored as JSON Schema defines pattern),
/// escapes what JSON must, and what a random writer completes satisfies the formats by an independent validator.
/// </summary>
public class PatternTests
{
    [Theory]
    [InlineData("^[a-z]+$", new[] { "abc", "z" }, new[] { "", "aB", "ab1" })]
    [InlineData("^\\d{3}-\\d{4}$", new[] { "555-1234" }, new[] { "5555-1234", "555-123", "abc-defg" })]
    [InlineData("^(?:red|green|blue)?$", new[] { "red", "", "blue" }, new[] { "redgreen", "Red" })]
    [InlineData("ab", new[] { "ab", "xxaby", "ab ab" }, new[] { "a", "ba", "" })]               // unanchored: anywhere in the string
    [InlineData("^ab", new[] { "ab", "abz" }, new[] { "zab" })]
    [InlineData("b$", new[] { "b", "ab" }, new[] { "ba" })]
    [InlineData("^[^\"\\\\]*$", new[] { "plain", "é 😀" }, new[] { "quo\"te", "back\\slash" })]
    [InlineData("^say \"[a-z]+\"\\\\?$", new[] { "say \"hi\"\\", "say \"yo\"" }, new[] { "say hi" })]   // quote and backslash, escaped in JSON
    [InlineData("^\\w+@\\w+\\.com$", new[] { "a_b@c9.com" }, new[] { "a@b.org", "@b.com" })]
    [InlineData("^[α-ω]{2,3}\\s\\S$", new[] { "αβ x", "ωωω é" }, new[] { "α x", "αβ  x", "ab x" })]
    [InlineData("^x{2,}y*?z+?$", new[] { "xxz", "xxxyyzz" }, new[] { "xz", "xxy" })]
    [InlineData("^a{2}?b{1,2}$", new[] { "aab", "aabb" }, new[] { "ab", "aabbb" })]      // a lazy ? after braces, braces at the end
    [InlineData("^(ab){2}$", new[] { "abab" }, new[] { "ab", "ababab" })]
    [InlineData("^a.c$", new[] { "abc", "a€c", "a\tc" }, new[] { "a\nc", "ac" })]
    [InlineData("^[\\u0041-\\x43]\\u00e9$", new[] { "Aé", "Cé" }, new[] { "Dé", "Ae" })]
    public void AStringIsAcceptedExactlyWhenItsTextMatches(string pattern, string[] matching, string[] notMatching)
    {
        var schema = JsonSerializer.Serialize(new { type = "string", pattern });
        var automaton = TextAutomaton.FromJsonSchema(schema);
        foreach (var (text, expected) in matching.Select(t => (t, true)).Concat(notMatching.Select(t => (t, false))))
        {
            Assert.True(System.Text.RegularExpressions.Regex.IsMatch(text, pattern, System.Text.RegularExpressions.RegexOptions.ECMAScript) == expected || !IsAscii(pattern),
                $"test data: .NET says '{text}' {(expected ? "does not match" : "matches")} {pattern}");
            var json = JsonText(text);
            var state = automaton.Start;
            var accepted = automaton.TryFeed(ref state, Encoding.UTF8.GetBytes(json)) && automaton.CanEnd(state);
            Assert.True(accepted == expected, $"{json} against {pattern}: {(accepted ? "accepted" : "refused")}");
        }
    }

    [Theory]
    [InlineData("a+", new[] { "a", "aaa" }, new[] { "", "ba", "ab" })]                       // a whole output: one match, end to end
    [InlineData("^a+$", new[] { "a", "aaa" }, new[] { "", "ba" })]
    [InlineData("yes|no|\\(maybe\\)", new[] { "yes", "no", "(maybe)" }, new[] { "yesno", "maybe", "" })]
    [InlineData("say \"[a-z]+\"\\\\", new[] { "say \"hi\"\\" }, new[] { "say hi" })]  // raw text: no JSON escapes
    [InlineData("\\d{3}\n[é😀]", new[] { "123\né", "000\n😀" }, new[] { "123\\né", "12\né" })]
    public void AWholeOutputIsOneMatchOfThePattern_InRawUtf8(string pattern, string[] matching, string[] notMatching)
    {
        var automaton = TextAutomaton.FromPattern(pattern);
        foreach (var (text, expected) in matching.Select(t => (t, true)).Concat(notMatching.Select(t => (t, false))))
        {
            var state = automaton.Start;
            var accepted = automaton.TryFeed(ref state, Encoding.UTF8.GetBytes(text)) && automaton.CanEnd(state);
            Assert.True(accepted == expected, $"'{text}' against {pattern}: {(accepted ? "accepted" : "refused")}");
        }
        Assert.Contains("matches no text", Assert.Throws<JsonSchemaException>(() => TextAutomaton.FromPattern("[^\\s\\S]")).Problem);
    }

    [Theory]
    [InlineData("date")]
    [InlineData("time")]
    [InlineData("date-time")]
    [InlineData("uuid")]
    [InlineData("email")]
    [InlineData("ipv4")]
    public void WhatARandomWriterCompletesSatisfiesTheFormat_ByAnIndependentValidator(string format)
    {
        var schema = $$$"""{"type": "object", "properties": {"v": {"type": "string", "format": "{{{format}}}"}}, "required": ["v"]}""";
        var automaton = TextAutomaton.FromJsonSchema(schema);
        var validator = JsonSchema.FromText(schema);
        var random = new Random(format.Length); // test data only
        for (var run = 0; run < 100; run++)
        {
            var state = automaton.Start;
            var text = new StringBuilder();
            while (!automaton.CanEnd(state))
            {
                var allowed = Enumerable.Range(0x20, 0x5F).Where(b => { var probe = state; return automaton.TryFeed(ref probe, (byte)b); }).ToList();
                Assert.True(allowed.Count > 0, $"stuck after {text}");
                // Lean towards ending the value so the texts stay short.
                var closing = allowed.Where(b => b is '"' or '}').ToList();
                var pick = closing.Count > 0 && random.Next(3) == 0 ? closing[0] : allowed[random.Next(allowed.Count)];
                Assert.True(automaton.TryFeed(ref state, (byte)pick));
                text.Append((char)pick);
            }
            var result = validator.Evaluate(JsonDocument.Parse(text.ToString()).RootElement, new EvaluationOptions { RequireFormatValidation = true });
            Assert.True(result.IsValid, $"{text} does not satisfy format {format}");
        }
    }

    [Theory]
    [InlineData("^(?=a)b$", "lookarounds")]
    [InlineData("(a)\\1", "backreferences")]
    [InlineData("\\bword", "word boundaries")]
    [InlineData("a^b", "^ or $ inside it")]
    [InlineData("(ab", "unbalanced '('")]
    [InlineData("ab)", "unbalanced ')'")]
    [InlineData("[abc", "unterminated character class")]
    [InlineData("a**", "a quantifier after a quantifier")]
    [InlineData("a{3,2}", "counts in order")]
    [InlineData("*a", "has nothing to repeat")]
    [InlineData("\\p{L}", "the escape \\p is not supported")]
    public void WhatAPatternCannotBeIsRefused_WithWhere(string pattern, string problem)
    {
        var error = Assert.Throws<JsonSchemaException>(() => TextAutomaton.FromJsonSchema(JsonSerializer.Serialize(new { type = "string", pattern })));
        Assert.Equal("/pattern", error.Pointer);
        Assert.Contains(problem, error.Problem);
    }

    [Fact]
    public void AnyPatternTextCompilesOrIsRefusedWithAMessage_NeverAnotherError()
    {
        // Client input: whatever the text, the compiler answers with an automaton or a JsonSchemaException.
        const string alphabet = "ab()[]{}|*+?^$.\\-,0123dwsuxDWS:=!<";
        var random = new Random(21); // test data only
        var compiled = 0;
        for (var i = 0; i < 3000; i++)
        {
            var pattern = new string([.. Enumerable.Range(0, 1 + random.Next(12)).Select(_ => alphabet[random.Next(alphabet.Length)])]);
            try
            {
                TextAutomaton.FromPattern(pattern);
                compiled++;
            }
            catch (JsonSchemaException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"pattern '{pattern}': {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(compiled > 100, $"only {compiled} of 3000 random patterns compiled: the fuzzing saw too few");
    }

    [Fact]
    public void APatternWhoseDeterministicFormExplodesStopsGrowingAtTheBound_WithoutAnError()
    {
        // (a|b)*a(a|b){17}: the deterministic automaton remembers the last 18 letters, 2^18 states, past the bound.
        var automaton = TextAutomaton.FromPattern("(a|b)*a(a|b){17}");
        var random = new Random(3); // test data only
        var state = automaton.Start;
        var refused = 0;
        for (var i = 0; i < 200_000; i++)
        {
            if (!automaton.TryFeed(ref state, random.Next(2) == 0 ? (byte)'a' : (byte)'b'))
            {
                refused++;
                state = automaton.Start;
            }
        }
        Assert.True(automaton.ReachedStates <= JsonSchemaLimits.MaxReachedStates, $"{automaton.ReachedStates} states");
        Assert.True(refused > 0, "the bound was never reached: the test does not test it");
    }

    [Fact]
    public void PatternBesideALengthOrAnEnforcedFormatIsRefused_AnUnknownFormatIsAnAnnotation()
    {
        Assert.Contains("beside minLength or maxLength", Assert.Throws<JsonSchemaException>(() => TextAutomaton.FromJsonSchema("""{"type": "string", "pattern": "a", "maxLength": 3}""")).Problem);
        Assert.Contains("beside format \"date\"", Assert.Throws<JsonSchemaException>(() => TextAutomaton.FromJsonSchema("""{"type": "string", "pattern": "a", "format": "date"}""")).Problem);
        var automaton = TextAutomaton.FromJsonSchema("""{"type": "string", "format": "hostname"}""");
        var state = automaton.Start;
        Assert.True(automaton.TryFeed(ref state, "\"not a host name!\""u8) && automaton.CanEnd(state));
    }

    private static bool IsAscii(string text) => text.All(c => c < 0x80);

    /// <summary>A string as JSON text in the one form the automaton writes: raw UTF-8, only ", \ and controls escaped.</summary>
    private static string JsonText(string text) => "\"" + string.Concat(text.Select(c => c switch
    {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\n' => "\\n",
        '\t' => "\\t",
        '\r' => "\\r",
        < ' ' => $"\\u{(int)c:X4}",
        _ => c.ToString(),
    })) + "\"";
}
