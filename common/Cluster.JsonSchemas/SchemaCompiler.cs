using System.Text.Encodings.Web;
using System.Text.Json;

namespace Cluster.JsonSchemas;

/// <summary>
/// Turns a JSON Schema into a <see cref="ByteNfa"/> fragment that accepts exactly the compact-or-spaced JSON texts of
/// the values it allows, within <see cref="JsonSchemaLimits"/>. Every keyword it reads it enforces; the annotations it
/// skips (title, description, default, examples, format, ...) constrain nothing in JSON Schema 2020-12 either; any
/// other keyword is refused with its location, so a schema is never silently loosened. The formats in
/// <see cref="StringFormats"/> are held to their grammar even so (an output that satisfies them satisfies the schema too).
/// </summary>
/// <remarks>
/// What the automaton writes is a subset of what the schema allows, never more: objects carry only their declared
/// properties, in the schema's order (OpenAI's structured outputs do the same), enum and const values are written in
/// their compact form, a number with bounds or a step is written without an exponent (<see cref="NumberGrammar"/>), and
/// oneOf is read as anyOf (its alternatives are expected to be disjoint, as generated schemas' are).
/// </remarks>
internal sealed class SchemaCompiler
{
    private static readonly HashSet<string> Annotations =
    [
        "$schema", "$id", "$comment", "$defs", "definitions", "title", "description", "default", "examples",
        "deprecated", "readOnly", "writeOnly", "format", "contentEncoding", "contentMediaType",
    ];

    private static readonly HashSet<string> Keywords =
    [
        "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref",
        "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength", "maxLength", "pattern",
        .. NumberGrammar.Keywords,
    ];

    private static readonly string[] Types = ["object", "array", "string", "number", "integer", "boolean", "null"];

    private static readonly JsonWriterOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly ByteNfa _nfa;
    private readonly JsonSyntax _json;
    private readonly JsonElement _root;
    private readonly Dictionary<string, int> _expanding = []; // $ref → expansions on the current path
    private int _depth;

    public SchemaCompiler(ByteNfa nfa, JsonElement root)
    {
        _nfa = nfa;
        _json = new JsonSyntax(nfa);
        _root = root;
    }

    public Fragment Compile() => Value(_root, "");

    private Fragment Value(JsonElement schema, string pointer)
    {
        if (++_depth > JsonSchemaLimits.MaxSchemaDepth)
        {
            throw new JsonSchemaException(pointer, $"the schema nests more than {JsonSchemaLimits.MaxSchemaDepth} subschemas deep");
        }
        try
        {
            return ValueOf(schema, pointer);
        }
        finally
        {
            _depth--;
        }
    }

    private Fragment ValueOf(JsonElement schema, string pointer)
    {
        switch (schema.ValueKind)
        {
            case JsonValueKind.True:
                return _json.AnyValue(JsonSchemaLimits.FreeFormDepth);
            case JsonValueKind.False:
                throw new JsonSchemaException(pointer, "the schema false allows no value");
            case JsonValueKind.Object:
                break;
            default:
                throw new JsonSchemaException(pointer, $"a schema is an object or a boolean, not {Kind(schema)}");
        }
        var constraining = new List<string>();
        foreach (var keyword in schema.EnumerateObject())
        {
            if (Annotations.Contains(keyword.Name))
            {
                continue;
            }
            if (!Keywords.Contains(keyword.Name))
            {
                throw new JsonSchemaException(Child(pointer, keyword.Name), $"the keyword \"{keyword.Name}\" is not supported; structured outputs support {string.Join(", ", Keywords)} (and the annotations {string.Join(", ", Annotations)}, which constrain nothing)");
            }
            constraining.Add(keyword.Name);
        }
        if (schema.TryGetProperty("$ref", out var reference))
        {
            Alone("$ref", constraining, pointer);
            return Reference(reference, Child(pointer, "$ref"));
        }
        if (schema.TryGetProperty("const", out var constant))
        {
            return _nfa.Literal(CompactJson(Typed(schema, [constant], Child(pointer, "const"))[0]));
        }
        if (schema.TryGetProperty("enum", out var choices))
        {
            if (choices.ValueKind != JsonValueKind.Array || choices.GetArrayLength() == 0)
            {
                throw new JsonSchemaException(Child(pointer, "enum"), "enum must be a non-empty array");
            }
            return _nfa.Either([.. Typed(schema, [.. choices.EnumerateArray()], Child(pointer, "enum")).Select(choice => _nfa.Literal(CompactJson(choice)))]);
        }
        return Alternatives(schema, constraining, pointer)
            ?? _nfa.Either([.. TypesOf(schema, pointer).Select(type => Typed(type, schema, pointer))]);
    }

    /// <summary>anyOf, oneOf or a one-element allOf: the only constraining keyword of its schema.</summary>
    private Fragment? Alternatives(JsonElement schema, List<string> constraining, string pointer)
    {
        foreach (var keyword in (string[])["anyOf", "oneOf", "allOf"])
        {
            if (!schema.TryGetProperty(keyword, out var list))
            {
                continue;
            }
            Alone(keyword, constraining, pointer);
            var at = Child(pointer, keyword);
            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            {
                throw new JsonSchemaException(at, $"{keyword} must be a non-empty array of schemas");
            }
            if (keyword == "allOf")
            {
                return list.GetArrayLength() == 1
                    ? Value(list[0], Child(at, "0"))
                    : throw new JsonSchemaException(at, "allOf with more than one schema is not supported (merge them into one)");
            }
            return _nfa.Either([.. list.EnumerateArray().Select((sub, i) => Value(sub, Child(at, i.ToString(System.Globalization.CultureInfo.InvariantCulture))))]);
        }
        return null;
    }

    private static void Alone(string keyword, IReadOnlyCollection<string> constraining, string pointer)
    {
        var others = constraining.Where(k => k != keyword).ToList();
        if (others.Count > 0)
        {
            throw new JsonSchemaException(pointer, $"{keyword} beside {string.Join(", ", others)} is not supported (put the other keywords inside its schemas)");
        }
    }

    private Fragment Reference(JsonElement reference, string pointer)
    {
        if (reference.ValueKind != JsonValueKind.String || reference.GetString() is not { } target || !target.StartsWith('#'))
        {
            throw new JsonSchemaException(pointer, "only local references (\"#\", \"#/$defs/...\", \"#/definitions/...\") are supported");
        }
        var schema = Resolve(target, pointer);
        var expansions = _expanding.GetValueOrDefault(target);
        if (expansions == JsonSchemaLimits.MaxRecursion)
        {
            // A recursive schema is unrolled this many levels; below them the branch is closed (pruned away later).
            return _nfa.Never();
        }
        _expanding[target] = expansions + 1;
        try
        {
            return Value(schema, target[1..]);
        }
        finally
        {
            _expanding[target] = expansions;
        }
    }

    private JsonElement Resolve(string target, string pointer)
    {
        var at = _root;
        foreach (var raw in target[1..].Split('/').Skip(1))
        {
            var name = Uri.UnescapeDataString(raw).Replace("~1", "/").Replace("~0", "~");
            if (at.ValueKind == JsonValueKind.Object && at.TryGetProperty(name, out var next))
            {
                at = next;
            }
            else if (at.ValueKind == JsonValueKind.Array && int.TryParse(name, out var index) && index >= 0 && index < at.GetArrayLength())
            {
                at = at[index];
            }
            else
            {
                throw new JsonSchemaException(pointer, $"the reference \"{target}\" points at nothing in the schema");
            }
        }
        return at;
    }

    /// <summary>
    /// The enum or const values that also satisfy the schema's type (both keywords apply); the others are left out, and
    /// none left is an error. The other keywords beside them are expected to agree and are not checked against them.
    /// </summary>
    private static List<JsonElement> Typed(JsonElement schema, List<JsonElement> values, string pointer)
    {
        if (!schema.TryGetProperty("type", out _))
        {
            return values;
        }
        var types = TypesOf(schema, pointer[..pointer.LastIndexOf('/')]).ToHashSet();
        var kept = values.Where(value => types.Contains(TypeOf(value)) || (TypeOf(value) == "integer" && types.Contains("number"))).ToList();
        return kept.Count > 0
            ? kept
            : throw new JsonSchemaException(pointer, $"no value here has the schema's type ({string.Join(", ", types)})");
    }

    private static string TypeOf(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => value.TryGetInt64(out _) || (value.TryGetDouble(out var d) && Math.Floor(d) == d) ? "integer" : "number", // 1.0 is an integer in JSON Schema
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

    private static IEnumerable<string> TypesOf(JsonElement schema, string pointer)
    {
        if (!schema.TryGetProperty("type", out var type))
        {
            // No type: what the other keywords describe, or any value.
            if (schema.TryGetProperty("properties", out _) || schema.TryGetProperty("required", out _) || schema.TryGetProperty("additionalProperties", out _))
            {
                return ["object"];
            }
            if (schema.TryGetProperty("items", out _) || schema.TryGetProperty("minItems", out _) || schema.TryGetProperty("maxItems", out _))
            {
                return ["array"];
            }
            if (schema.TryGetProperty("minLength", out _) || schema.TryGetProperty("maxLength", out _) || schema.TryGetProperty("pattern", out _))
            {
                return ["string"];
            }
            if (NumberGrammar.Keywords.Any(keyword => schema.TryGetProperty(keyword, out _)))
            {
                return ["number"];
            }
            return [.. Types];
        }
        var at = Child(pointer, "type");
        var names = type.ValueKind switch
        {
            JsonValueKind.String => [type.GetString()!],
            JsonValueKind.Array when type.GetArrayLength() > 0 && type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String) =>
                type.EnumerateArray().Select(t => t.GetString()!).Distinct().ToArray(),
            _ => throw new JsonSchemaException(at, "type must be a type name or a non-empty array of them"),
        };
        foreach (var name in names)
        {
            if (!Types.Contains(name))
            {
                throw new JsonSchemaException(at, $"unknown type \"{name}\" (one of {string.Join(", ", Types)})");
            }
        }
        // "integer" is within "number": writing both would only duplicate branches.
        return names.Contains("number") ? names.Where(n => n != "integer") : names;
    }

    private Fragment Typed(string type, JsonElement schema, string pointer) => type switch
    {
        "object" => Object(schema, pointer),
        "array" => Array(schema, pointer),
        "string" => String(schema, pointer),
        "number" => NumberGrammar.Read(schema, pointer)?.Build(_nfa, integer: false, pointer) ?? _json.Number(),
        "integer" => NumberGrammar.Read(schema, pointer)?.Build(_nfa, integer: true, pointer) ?? _json.Integer(),
        "boolean" => _nfa.Either([_nfa.Literal("true"u8), _nfa.Literal("false"u8)]),
        _ => _nfa.Literal("null"u8),
    };

    private Fragment Object(JsonElement schema, string pointer)
    {
        var properties = schema.TryGetProperty("properties", out var declared) ? declared : default;
        if (properties.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Object))
        {
            throw new JsonSchemaException(Child(pointer, "properties"), "properties must be an object of schemas");
        }
        var names = properties.ValueKind == JsonValueKind.Object ? properties.EnumerateObject().Select(p => p.Name).ToList() : [];
        var required = Required(schema, names, Child(pointer, "required"));
        schema.TryGetProperty("additionalProperties", out var additional);
        if (additional.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.True or JsonValueKind.False or JsonValueKind.Object))
        {
            throw new JsonSchemaException(Child(pointer, "additionalProperties"), "additionalProperties must be a boolean or a schema");
        }
        var open = _nfa.Sequence(_nfa.Literal("{"u8), _json.Whitespace());
        if (names.Count == 0 && additional.ValueKind != JsonValueKind.False)
        {
            // A map: any keys, each value of the additionalProperties schema (or any value).
            var values = additional.ValueKind == JsonValueKind.Object
                ? () => Value(additional, Child(pointer, "additionalProperties"))
                : (Func<Fragment>)(() => _json.AnyValue(JsonSchemaLimits.FreeFormDepth - 1));
            return _nfa.Sequence(open, _json.Members(() => _json.String(minLength: 0, maxLength: null), values), _nfa.Literal("}"u8));
        }
        // The declared properties in order, each required one present, each optional one present or not. Two
        // tracks of states: "no member written yet" (the next member has no comma before it) and "some written";
        // each property's member is one copy that both tracks enter.
        var none = _nfa.AddState();
        var some = _nfa.AddState();
        _nfa.Empty(open.End, none);
        foreach (var name in names)
        {
            var enter = _nfa.AddState();
            _nfa.Empty(none, enter);
            var comma = _nfa.Sequence(_nfa.Literal(","u8), _json.Whitespace());
            _nfa.Empty(some, comma.Start);
            _nfa.Empty(comma.End, enter);
            var member = _nfa.Sequence(_nfa.Literal(CompactString(name)), _json.Whitespace(), _nfa.Literal(":"u8), _json.Whitespace(),
                Value(properties.GetProperty(name), Child(Child(pointer, "properties"), name)), _json.Whitespace());
            _nfa.Empty(enter, member.Start);
            var (nextNone, nextSome) = (_nfa.AddState(), _nfa.AddState());
            _nfa.Empty(member.End, nextSome);
            if (!required.Contains(name))
            {
                _nfa.Empty(none, nextNone);
                _nfa.Empty(some, nextSome);
            }
            (none, some) = (nextNone, nextSome);
        }
        var close = _nfa.Literal("}"u8);
        _nfa.Empty(none, close.Start);
        _nfa.Empty(some, close.Start);
        return new(open.Start, close.End);
    }

    private static HashSet<string> Required(JsonElement schema, List<string> names, string pointer)
    {
        if (!schema.TryGetProperty("required", out var required))
        {
            return [];
        }
        if (required.ValueKind != JsonValueKind.Array || !required.EnumerateArray().All(r => r.ValueKind == JsonValueKind.String))
        {
            throw new JsonSchemaException(pointer, "required must be an array of property names");
        }
        var set = required.EnumerateArray().Select(r => r.GetString()!).ToHashSet();
        var undeclared = set.Where(name => !names.Contains(name)).ToList();
        return undeclared.Count == 0
            ? set
            : throw new JsonSchemaException(pointer, $"required names {string.Join(", ", undeclared.Select(n => $"\"{n}\""))}, which properties does not declare (declare each required property)");
    }

    private Fragment Array(JsonElement schema, string pointer)
    {
        var min = Count(schema, "minItems", pointer) ?? 0;
        var max = Count(schema, "maxItems", pointer);
        if (max < min)
        {
            throw new JsonSchemaException(Child(pointer, "maxItems"), $"maxItems {max} is below minItems {min}");
        }
        Func<Fragment> item = schema.TryGetProperty("items", out var items)
            ? () => Value(items, Child(pointer, "items"))
            : () => _json.AnyValue(JsonSchemaLimits.FreeFormDepth - 1);
        return _nfa.Sequence(
            _nfa.Literal("["u8), _json.Whitespace(),
            _nfa.Separated(() => _nfa.Sequence(item(), _json.Whitespace()), () => _nfa.Sequence(_nfa.Literal(","u8), _json.Whitespace()), min, max),
            _nfa.Literal("]"u8));
    }

    private Fragment String(JsonElement schema, string pointer)
    {
        var min = Count(schema, "minLength", pointer) ?? 0;
        var max = Count(schema, "maxLength", pointer);
        if (max < min)
        {
            throw new JsonSchemaException(Child(pointer, "maxLength"), $"maxLength {max} is below minLength {min}");
        }
        var pattern = schema.TryGetProperty("pattern", out var given)
            ? given.ValueKind == JsonValueKind.String ? given.GetString()! : throw new JsonSchemaException(Child(pointer, "pattern"), "pattern must be a string (a regular expression)")
            : null;
        var format = schema.TryGetProperty("format", out var named) && named.ValueKind == JsonValueKind.String && StringFormats.Patterns.TryGetValue(named.GetString()!, out var grammar)
            ? grammar
            : null;
        if (pattern is null && format is null)
        {
            return _json.String(min, max);
        }
        if (pattern is not null && format is not null)
        {
            throw new JsonSchemaException(pointer, $"pattern beside format \"{named.GetString()}\" is not supported (use one)");
        }
        if (min != 0 || max is not null)
        {
            throw new JsonSchemaException(pointer, "pattern or an enforced format beside minLength or maxLength is not supported (put the length in the pattern)");
        }
        var at = pattern is not null ? Child(pointer, "pattern") : Child(pointer, "format");
        return _nfa.Sequence(_nfa.Literal("\""u8), PatternCompiler.Compile(_nfa, pattern ?? format!, at), _nfa.Literal("\""u8));
    }

    private static int? Count(JsonElement schema, string keyword, string pointer)
    {
        if (!schema.TryGetProperty(keyword, out var value))
        {
            return null;
        }
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var count) && count >= 0
            ? count
            : throw new JsonSchemaException(Child(pointer, keyword), $"{keyword} must be a non-negative integer");
    }

    private static byte[] CompactJson(JsonElement value)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, Compact))
        {
            value.WriteTo(writer);
        }
        return buffer.ToArray();
    }

    private static byte[] CompactString(string text)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, Compact))
        {
            writer.WriteStringValue(text);
        }
        return buffer.ToArray();
    }

    internal static string Child(string pointer, string name) => $"{pointer}/{name.Replace("~", "~0").Replace("/", "~1")}";

    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => "null",
    };
}
