using System.Globalization;
using System.Text;
using System.Text.Json;
using Cluster.JsonSchemas;
using Json.Schema;

namespace Cluster.JsonSchemas.Tests;

/// <summary>
/// minimum, maximum, exclusiveMinimum, exclusiveMaximum and multipleOf hold numbers and integers exactly: the
/// automaton accepts a numeral (without an exponent) exactly when an independent validator (JsonSchema.Net, decimal
/// arithmetic) finds it valid, over random bounds, steps and numerals; every numeral a random writer completes is
/// valid; and keywords no number can satisfy, or malformed ones, are refused naming where.
/// </summary>
public class NumberKeywordTests
{
    private const string Confidence = """{"type": "number", "minimum": 0, "maximum": 1}""";
    private const string Percent = """{"type": "integer", "minimum": 0, "maximum": 100}""";
    private const string Price = """{"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01}""";
    private const string Signed = """{"type": "integer", "exclusiveMinimum": -12, "exclusiveMaximum": 7, "multipleOf": 3}""";

    [Theory]
    [InlineData(Confidence, "0", true)]
    [InlineData(Confidence, "-0", true)]
    [InlineData(Confidence, "1", true)]
    [InlineData(Confidence, "0.75", true)]
    [InlineData(Confidence, "1.0", true)]
    [InlineData(Confidence, "1.01", false)]
    [InlineData(Confidence, "1.000001", false)]
    [InlineData(Confidence, "-0.1", false)]
    [InlineData(Confidence, "10", false)]
    [InlineData(Confidence, "7.5e-1", false)] // within the range, but a bounded number is written without an exponent
    [InlineData(Percent, "100", true)]
    [InlineData(Percent, "99", true)]
    [InlineData(Percent, "101", false)]
    [InlineData(Percent, "1000", false)]
    [InlineData(Percent, "50.5", false)]
    [InlineData(Percent, "-1", false)]
    [InlineData(Percent, "007", false)]
    [InlineData(Price, "0.01", true)]
    [InlineData(Price, "19.99", true)]
    [InlineData(Price, "19.9", true)]
    [InlineData(Price, "19.990", true)]
    [InlineData(Price, "19.999", false)]
    [InlineData(Price, "0", false)]
    [InlineData(Price, "0.00", false)]
    [InlineData(Price, "-3.5", false)]
    [InlineData(Signed, "-9", true)]
    [InlineData(Signed, "6", true)]
    [InlineData(Signed, "0", true)]
    [InlineData(Signed, "-12", false)]
    [InlineData(Signed, "7", false)]
    [InlineData(Signed, "4", false)]
    [InlineData("""{"type": ["integer", "null"], "minimum": 2.5}""", "3", true)]
    [InlineData("""{"type": ["integer", "null"], "minimum": 2.5}""", "2", false)]
    [InlineData("""{"type": ["integer", "null"], "minimum": 2.5}""", "null", true)]
    [InlineData("""{"maximum": -1e-3}""", "-0.001", true)] // no type: the keywords describe a number
    [InlineData("""{"maximum": -1e-3}""", "-0.0009", false)]
    [InlineData("""{"type": "number", "multipleOf": 2.5}""", "-7.5", true)]
    [InlineData("""{"type": "number", "multipleOf": 2.5}""", "12.50", true)]
    [InlineData("""{"type": "number", "multipleOf": 2.5}""", "12.25", false)]
    public void AcceptsTheNumbersTheKeywordsAllow_AndNoOthers(string schema, string text, bool valid)
    {
        Assert.True(Accepts(TextAutomaton.FromJsonSchema(schema), text) == valid, $"{schema}: expected {text} {(valid ? "accepted" : "refused")}");
        if (valid)
        {
            Assert.True(JsonSchemaTests.IsValid(schema, text), $"{text} is not valid against {schema} by the independent validator");
        }
    }

    [Fact]
    public void RandomBoundsAndNumerals_AgreeWithAnIndependentValidator()
    {
        var random = new Random(23); // test data only
        var checkedNumerals = 0;
        var acceptedNumerals = 0;
        for (var run = 0; run < 300; run++)
        {
            var integer = random.Next(3) == 0;
            var keywords = new List<string> { $"\"type\": \"{(integer ? "integer" : "number")}\"" };
            foreach (var keyword in (string[])["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"])
            {
                if (random.Next(3) == 0)
                {
                    keywords.Add($"\"{keyword}\": {RandomNumeral(random, canonical: true)}");
                }
            }
            if (random.Next(3) == 0)
            {
                keywords.Add($"\"multipleOf\": {new[] { "1", "3", "0.5", "0.25", "0.01", "7", "1.5", "10", "2e-3", "12" }[random.Next(10)]}");
            }
            var schema = $"{{{string.Join(", ", keywords)}}}";
            TextAutomaton automaton;
            try
            {
                automaton = TextAutomaton.FromJsonSchema(schema);
            }
            catch (JsonSchemaException e) when (e.Problem.StartsWith("no ", StringComparison.Ordinal))
            {
                // An empty range: no numeral in a wide sample may be valid either.
                for (var i = 0; i < 200; i++)
                {
                    var numeral = RandomNumeral(random);
                    Assert.False(JsonSchemaTests.IsValid(schema, numeral), $"{schema} was refused as empty ({e.Problem}), but {numeral} is valid against it");
                }
                continue;
            }
            for (var i = 0; i < 60; i++)
            {
                var numeral = RandomNumeral(random);
                var accepted = Accepts(automaton, numeral);
                // An integer is written without a fraction, though JSON Schema counts 2.0 as one.
                var expected = JsonSchemaTests.IsValid(schema, numeral) && !(integer && numeral.Contains('.'));
                Assert.True(accepted == expected, $"{schema}: the automaton {(accepted ? "accepts" : "refuses")} {numeral}; the validator disagrees");
                checkedNumerals++;
                acceptedNumerals += accepted ? 1 : 0;
            }
            for (var i = 0; i < 5; i++)
            {
                var text = JsonSchemaTests.RandomText(automaton, random, out var complete);
                Assert.True(complete, $"{schema}: stuck after {text}");
                Assert.True(JsonSchemaTests.IsValid(schema, text), $"{schema}: a random writer completed {text}, which is not valid");
            }
        }
        Assert.True(acceptedNumerals > checkedNumerals / 10 && acceptedNumerals < checkedNumerals * 9 / 10,
            $"{acceptedNumerals} of {checkedNumerals} random numerals accepted: the sample says little about the bounds");
    }

    [Theory]
    [InlineData("""{"type": "integer", "minimum": 5, "maximum": 4}""", "", "no integer satisfies minimum 5 and maximum 4")]
    [InlineData("""{"type": "integer", "minimum": 1.2, "maximum": 1.8}""", "", "no integer satisfies minimum 1.2 and maximum 1.8")]
    [InlineData("""{"type": "number", "exclusiveMinimum": 3, "maximum": 3}""", "", "no number satisfies exclusiveMinimum 3 and maximum 3")]
    [InlineData("""{"properties": {"n": {"type": "number", "multipleOf": 0}}}""", "/properties/n/multipleOf", "multipleOf must be greater than 0")]
    [InlineData("""{"type": "number", "multipleOf": 12.345}""", "/multipleOf", "multipleOf 12.345 is 12345 units of its last digit; the limit is 1000")]
    [InlineData("""{"type": "number", "minimum": "0"}""", "/minimum", "minimum must be a number")]
    [InlineData("""{"type": "number", "minimum": 0, "exclusiveMinimum": true}""", "/exclusiveMinimum", "draft 4's boolean")]
    [InlineData("""{"type": "number", "maximum": 1e400}""", "/maximum", "needs more than 64 digits")]
    public void WhatNoNumberCanSatisfyIsRefused_NamingWhere(string schema, string pointer, string problem)
    {
        var error = Assert.Throws<JsonSchemaException>(() => TextAutomaton.FromJsonSchema(schema));
        Assert.Equal(pointer, error.Pointer);
        Assert.Contains(problem, error.Problem);
    }

    [Fact]
    public void ABoundedPropertyInsideAnObjectKeepsTheRestOfTheSchema()
    {
        // Pydantic's Field(ge=0, le=1) and conint(ge=1, le=5), as OpenAI's and M.E.AI's clients send them.
        const string schema = """
            {"type": "object", "properties": {
                "sentiment": {"enum": ["positive", "negative"]},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "stars": {"type": "integer", "minimum": 1, "maximum": 5}},
             "required": ["sentiment", "confidence", "stars"], "additionalProperties": false}
            """;
        var automaton = TextAutomaton.FromJsonSchema(schema);
        Assert.True(Accepts(automaton, """{"sentiment":"positive","confidence":0.93,"stars":4}"""));
        Assert.False(Accepts(automaton, """{"sentiment":"positive","confidence":1.5,"stars":4}"""));
        Assert.False(Accepts(automaton, """{"sentiment":"positive","confidence":0.5,"stars":6}"""));
        // The prefix "0.93,\"stars\":" can go on; "6" after it cannot even begin.
        var state = automaton.Start;
        Assert.True(automaton.TryFeed(ref state, Encoding.UTF8.GetBytes("""{"sentiment":"negative","confidence":0.93,"stars":""")));
        var six = state;
        Assert.False(automaton.TryFeed(ref six, (byte)'6'), "a star count of 6 was allowed to begin");
        Assert.False(automaton.TryFeed(ref state, (byte)'0'), "a star count of 0 was allowed to begin");
    }

    [Theory]
    [InlineData("1.5e2", false, "150", "")]
    [InlineData("-0.0", false, "0", "")]
    [InlineData("1e-3", false, "0", "001")]
    [InlineData("-12.300", true, "12", "3")]
    [InlineData("0.000", false, "0", "")]
    [InlineData("25E-1", false, "2", "5")]
    public void DecimalTextReadsAJsonNumberExactly(string json, bool negative, string integer, string fraction)
    {
        Assert.Equal(new DecimalText(negative, integer, fraction), DecimalText.Parse(json));
    }

    /// <summary>A numeral without an exponent, some with a leading zero unless <paramref name="canonical"/> (JSON's syntax), some minus zero or with trailing zeros.</summary>
    private static string RandomNumeral(Random random, bool canonical = false)
    {
        var sign = random.Next(3) == 0 ? "-" : "";
        var integer = random.Next(5) switch
        {
            0 => "0",
            1 => random.Next(10).ToString(CultureInfo.InvariantCulture),
            2 => random.Next(100).ToString(CultureInfo.InvariantCulture),
            3 => random.Next(1000).ToString(CultureInfo.InvariantCulture),
            _ => random.Next(20) == 0 && !canonical ? "0" + random.Next(10).ToString(CultureInfo.InvariantCulture) : random.Next(20).ToString(CultureInfo.InvariantCulture),
        };
        var fraction = random.Next(2) == 0 ? "" : "." + string.Concat(Enumerable.Range(0, random.Next(1, 5)).Select(_ => random.Next(10).ToString(CultureInfo.InvariantCulture)));
        return sign + integer + fraction;
    }

    private static bool Accepts(TextAutomaton automaton, string text)
    {
        var state = automaton.Start;
        return automaton.TryFeed(ref state, Encoding.UTF8.GetBytes(text)) && automaton.CanEnd(state);
    }
}
