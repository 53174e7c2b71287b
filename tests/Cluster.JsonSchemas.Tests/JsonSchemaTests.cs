using System.Text;
using System.Text.Json;
using Cluster.JsonSchemas;
using Json.Schema;

namespace Cluster.JsonSchemas.Tests;

/// <summary>
/// The automaton accepts the texts its schema allows and refuses the rest (table), every text it lets a random writer
/// complete is valid against the schema by an independent validator (JsonSchema.Net), every prefix it accepts can be
/// completed, and what it cannot hold output to is refused at compile time with the keyword's location.
/// </summary>
public class JsonSchemaTests
{
    private const string Person = """
        {"type": "object", "properties": {
            "name": {"type": "string", "description": "annotations constrain nothing"},
            "age": {"type": "integer"},
            "email": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"enum": ["a", "b", "ç"]}, "maxItems": 2}},
         "required": ["name", "age"], "additionalProperties": false}
        """;

    private const string Tree = """
        {"$defs": {"node": {"type": "object", "properties": {
            "value": {"type": "number"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
          "required": ["value", "children"]}},
         "$ref": "#/$defs/node"}
        """;

    private const string Mixed = """
        {"type": "object", "properties": {
            "kind": {"const": "shape"},
            "shape": {"anyOf": [
                {"type": "object", "properties": {"radius": {"type": "number"}}, "required": ["radius"]},
                {"type": "object", "properties": {"w": {"type": "integer"}, "h": {"type": "integer"}}, "required": ["w"]}]},
            "code": {"type": "string", "minLength": 2, "maxLength": 3},
            "flags": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "free": true,
            "list": {"type": "array", "minItems": 1, "items": {"type": "null"}},
            "opt": {"type": ["boolean", "null"]}},
         "required": ["kind", "shape", "code", "flags", "free", "list"]}
        """;

    [Theory]
    [InlineData(Person, """{"name":"Ann","age":41}""", true)]
    [InlineData("""{"type": ["string", "integer"], "enum": ["a", 1, 2.5, null]}""", "2.5", false)] // enum and type both apply
    [InlineData("""{"type": ["string", "integer"], "enum": ["a", 1, 2.5, null]}""", "null", false)]
    [InlineData("""{"type": ["string", "integer"], "enum": ["a", 1, 2.5, null]}""", "1", true)]
    [InlineData("""{"type": "number", "enum": [3, "x"]}""", "3", true)]
    [InlineData(Person, """{ "name" : "Ann" , "age" : -3 , "email": null, "tags": ["a", "ç"] }""", true)]
    [InlineData(Person, "{\n  \"name\": \"Ann\",\n  \"age\": 7,\n\t\"tags\": [\n    \"b\"\n  ]\n}", true)] // indented
    [InlineData(Person, """{"name":"Ann",  "age":41}""", false)]            // one space, or a newline and indentation
    [InlineData(Person, "{\"name\":\"Ann\",\n\n\"age\":41}", false)]   // one newline per gap
    [InlineData(Person, """{"name":"Ann","age":41,"tags":[]}""", true)]
    [InlineData(Person, """{"name":"Ann","email":"x","age":41}""", false)] // declared order only
    [InlineData(Person, """{"name":"Ann"}""", false)]                        // age is required
    [InlineData(Person, """{"name":"Ann","age":4.5}""", false)]
    [InlineData(Person, """{"name":"Ann","age":41,"extra":1}""", false)]
    [InlineData(Person, """{"name":"Ann","age":41,"tags":["a","b","a"]}""", false)] // maxItems
    [InlineData(Person, """{"name":"Ann","age":41,"tags":["c"]}""", false)]
    [InlineData(Person, """{"name":"Ann","age":041}""", false)]
    [InlineData(Person, """ {"name":"Ann","age":41}""", false)]             // nothing before the value
    [InlineData(Person, """{"name":"Ann","age":41} """, false)]             // nor after it
    [InlineData(Tree, """{"value":1,"children":[{"value":2.5e-3,"children":[]}]}""", true)]
    [InlineData(Tree, """{"value":1}""", false)]
    [InlineData(Mixed, """{"kind":"shape","shape":{"w":2},"code":"ab","flags":{},"free":[1,{"x":null}],"list":[null]}""", true)]
    [InlineData(Mixed, """{"kind":"shape","shape":{"radius":1.5},"code":"é\u00e9z","flags":{"x":true,"y":false},"free":"s","list":[null,null],"opt":null}""", true)]
    [InlineData(Mixed, """{"kind":"shape","shape":{"w":2},"code":"a","flags":{},"free":1,"list":[null]}""", false)]    // minLength
    [InlineData(Mixed, """{"kind":"shape","shape":{"w":2},"code":"abcd","flags":{},"free":1,"list":[null]}""", false)] // maxLength
    [InlineData(Mixed, """{"kind":"shape","shape":{"w":2},"code":"ab","flags":{},"free":1,"list":[]}""", false)]       // minItems
    [InlineData(Mixed, """{"kind":"shape","shape":{"h":2},"code":"ab","flags":{},"free":1,"list":[null]}""", false)]   // w required
    [InlineData(Mixed, """{"kind":"other","shape":{"w":2},"code":"ab","flags":{},"free":1,"list":[null]}""", false)]   // const
    [InlineData(Mixed, """{"kind":"shape","shape":{"w":2},"code":"ab","flags":{"x":1},"free":1,"list":[null]}""", false)]
    public void AcceptsWhatTheSchemaAllows_AndNothingElse(string schema, string text, bool valid)
    {
        var automaton = TextAutomaton.FromJsonSchema(schema);
        var state = automaton.Start;
        var read = 0;
        var bytes = Encoding.UTF8.GetBytes(text);
        while (read < bytes.Length && automaton.TryFeed(ref state, bytes[read]))
        {
            read++;
        }
        var accepted = read == bytes.Length && automaton.CanEnd(state);
        Assert.True(accepted == valid, $"{text}: expected {(valid ? "accepted" : "refused")}, read {read} of {bytes.Length} bytes, can end: {automaton.CanEnd(state)}");
        // What the automaton accepts the independent validator must accept; it may refuse more (declared order, no
        // whitespace around the value).
        Assert.True(!accepted || IsValid(schema, text), $"{text} accepted but not valid against the schema");
    }

    [Theory]
    [InlineData(Person)]
    [InlineData(Tree)]
    [InlineData(Mixed)]
    [InlineData("""{"type": "object"}""")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {}}}""")]
    [InlineData("""{"properties": {"answer": {"enum": ["yes", "no", 3, null, {"k": [1, "two"]}]}}, "required": ["answer"]}""")]
    [InlineData("""{"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}, "n": {"type": "integer"}}, "required": ["next", "n"]}""")]
    [InlineData("""{"type": ["array", "number"], "items": {"type": "string", "maxLength": 4}, "minItems": 2, "maxItems": 4}""")]
    public void EveryTextARandomWriterCompletesIsValid_ByAnIndependentValidator(string schema)
    {
        var automaton = TextAutomaton.FromJsonSchema(schema);
        var random = new Random(11); // test data only
        var ended = 0;
        for (var run = 0; run < 200; run++)
        {
            var text = RandomText(automaton, random, out var complete);
            if (!complete)
            {
                continue;
            }
            ended++;
            Assert.True(IsValid(schema, text), $"the automaton completed {text}, which the schema does not allow");
        }
        Assert.True(ended >= 150, $"only {ended} of 200 random texts were completed within the length cap");
    }

    [Fact]
    public void EveryPrefixTheAutomatonAcceptsCanBeCompleted()
    {
        // A recursive branch past its unrolling and a property whose only value is unsatisfiable leave no dead end.
        const string schema = """
            {"type": "object", "properties": {
                "deep": {"$ref": "#"},
                "never": {"anyOf": [{"$ref": "#/$defs/loop"}, {"type": "integer"}]}},
             "required": ["never"],
             "$defs": {"loop": {"type": "object", "properties": {"again": {"$ref": "#/$defs/loop"}}, "required": ["again"]}}}
            """;
        var automaton = TextAutomaton.FromJsonSchema(schema);
        var random = new Random(5); // test data only
        for (var run = 0; run < 100; run++)
        {
            var text = RandomText(automaton, random, out var complete);
            Assert.True(complete, $"stuck after {text}");
            Assert.True(IsValid(schema, text), text);
            Assert.DoesNotContain("\"never\":{", text);
        }
    }

    [Theory]
    [InlineData("""{"type": "string", "contentSchema": {}}""", "/contentSchema", "the keyword \"contentSchema\" is not supported")]
    [InlineData("""{"type": "object", "properties": {"n": {"type": "array", "uniqueItems": true}}}""", "/properties/n/uniqueItems", "\"uniqueItems\" is not supported")]
    [InlineData("""{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b"]}""", "/required", "required names \"b\", which properties does not declare")]
    [InlineData("""{"type": "objekt"}""", "/type", "unknown type \"objekt\"")]
    [InlineData("""{"$ref": "https://example.com/s.json"}""", "/$ref", "only local references")]
    [InlineData("""{"$ref": "#/$defs/missing"}""", "/$ref", "points at nothing")]
    [InlineData("""{"anyOf": [{"type": "string"}], "type": "string"}""", "", "anyOf beside type is not supported")]
    [InlineData("""{"allOf": [{"type": "string"}, {"maxLength": 3}]}""", "/allOf", "allOf with more than one schema")]
    [InlineData("""{"type": "array", "minItems": 3, "maxItems": 2}""", "/maxItems", "maxItems 2 is below minItems 3")]
    [InlineData("""{"type": "object", "properties": {"loop": {"$ref": "#"}}, "required": ["loop"]}""", "", "no JSON value satisfies the schema")]
    [InlineData("""false""", "", "the schema false allows no value")]
    [InlineData("""{"enum": []}""", "/enum", "enum must be a non-empty array")]
    [InlineData("""{"type": "string", "enum": [1, null]}""", "/enum", "no value here has the schema's type (string)")]
    [InlineData("""{"type": "integer", "const": 1.5}""", "/const", "no value here has the schema's type (integer)")]
    [InlineData("""{"type": "object",""", "", "not valid JSON")]
    [InlineData("""[1]""", "", "a schema is an object or a boolean, not an array")]
    public void WhatCannotBeHeldIsRefused_NamingWhere(string schema, string pointer, string problem)
    {
        var error = Assert.Throws<JsonSchemaException>(() => TextAutomaton.FromJsonSchema(schema));
        Assert.Equal(pointer, error.Pointer);
        Assert.Contains(problem, error.Problem);
    }

    [Fact]
    public void ASchemaPastTheLimitsIsRefused()
    {
        var tooLong = $$"""{"description": "{{new string('x', JsonSchemaLimits.MaxSchemaLength)}}"}""";
        Assert.Contains("the limit is", Assert.Throws<JsonSchemaException>(() => TextAutomaton.FromJsonSchema(tooLong)).Problem);
        var tooLarge = """{"type": "array", "items": {"type": "array", "items": {"type": "string", "maxLength": 100}, "maxItems": 100}, "maxItems": 100}""";
        Assert.Contains("automaton states", Assert.Throws<JsonSchemaException>(() => TextAutomaton.FromJsonSchema(tooLarge)).Problem);
    }

    [Fact]
    public void AnySchemaTextCompilesOrIsRefusedWithAMessage_NeverAnotherError()
    {
        // Client input: random trees of the keywords (and some unknown ones) with values of every kind.
        string[] keywords = ["type", "properties", "items", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "required", "additionalProperties",
            "minItems", "maxItems", "minLength", "maxLength", "pattern", "format", "$defs", "title", "unknown",
            "minimum", "exclusiveMaximum", "multipleOf"];
        string[] types = ["object", "array", "string", "number", "integer", "boolean", "null", "other"];
        var random = new Random(17); // test data only
        System.Text.Json.Nodes.JsonNode? Value(int depth) => random.Next(depth > 3 ? 5 : 9) switch
        {
            0 => types[random.Next(types.Length)],
            1 => random.Next(-2, 5),
            2 => random.Next(2) == 0,
            3 => null,
            4 => new[] { "#", "#/$defs/a", "#/properties/x", "a+", "date" }[random.Next(5)],
            5 or 6 => Schema(depth + 1),
            _ => new System.Text.Json.Nodes.JsonArray([.. Enumerable.Range(0, random.Next(3)).Select(_ => Value(depth + 1))]),
        };
        System.Text.Json.Nodes.JsonObject Schema(int depth)
        {
            var schema = new System.Text.Json.Nodes.JsonObject();
            foreach (var keyword in Enumerable.Range(0, random.Next(4)).Select(_ => keywords[random.Next(keywords.Length)]).Distinct())
            {
                schema[keyword] = keyword is "properties" or "$defs"
                    ? new System.Text.Json.Nodes.JsonObject { ["a"] = Schema(depth + 1), ["x"] = Value(depth + 1) }
                    : Value(depth);
            }
            return schema;
        }
        var compiled = 0;
        for (var i = 0; i < 3000; i++)
        {
            var text = Schema(0).ToJsonString();
            try
            {
                TextAutomaton.FromJsonSchema(text);
                compiled++;
            }
            catch (JsonSchemaException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"schema {text}: {e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(compiled > 100, $"only {compiled} of 3000 random schemas compiled: the fuzzing saw too few");
    }

    [Fact]
    public void ThreadsFeedingTheSameAutomatonAgree()
    {
        var automaton = TextAutomaton.FromJsonSchema(Mixed);
        var text = Encoding.UTF8.GetBytes("""{"kind":"shape","shape":{"radius":1.5},"code":"abc","flags":{"x":true},"free":{"a":[1,2,{"b":"c"}]},"list":[null]}""");
        var ends = new bool[8];
        Parallel.For(0, ends.Length, t =>
        {
            var state = automaton.Start;
            ends[t] = automaton.TryFeed(ref state, text) && automaton.CanEnd(state);
        });
        Assert.All(ends, Assert.True);
    }

    /// <summary>
    /// Writes bytes the automaton allows, printable ASCII only, leaning towards closing strings, objects and arrays so
    /// that texts end; stops at the first state that can end (the root is complete there).
    /// </summary>
    internal static string RandomText(TextAutomaton automaton, Random random, out bool complete)
    {
        var state = automaton.Start;
        var text = new StringBuilder();
        while (text.Length < 4000)
        {
            if (automaton.CanEnd(state) && (random.Next(3) > 0 || !HasNext(automaton, state)))
            {
                complete = true;
                return text.ToString();
            }
            var allowed = new List<byte>();
            for (var b = 0x09; b < 0x7F; b++)
            {
                var probe = state;
                if (b != '\\' && automaton.TryFeed(ref probe, (byte)b))
                {
                    allowed.Add((byte)b);
                }
            }
            Assert.True(allowed.Count > 0, $"no byte continues {text} and it cannot end: a dead end");
            var closing = allowed.Where(b => b is (byte)'"' or (byte)'}' or (byte)']').ToList();
            var pick = closing.Count > 0 && random.Next(2) == 0 ? closing[random.Next(closing.Count)] : allowed[random.Next(allowed.Count)];
            Assert.True(automaton.TryFeed(ref state, pick));
            text.Append((char)pick);
        }
        complete = false;
        return text.ToString();
    }

    private static bool HasNext(TextAutomaton automaton, int state)
    {
        for (var b = 0; b < 256; b++)
        {
            var probe = state;
            if (automaton.TryFeed(ref probe, (byte)b))
            {
                return true;
            }
        }
        return false;
    }

    internal static bool IsValid(string schema, string text)
    {
        JsonElement instance;
        try
        {
            instance = JsonDocument.Parse(text).RootElement;
        }
        catch (JsonException)
        {
            return false;
        }
        return JsonSchema.FromText(schema).Evaluate(instance).IsValid;
    }
}
