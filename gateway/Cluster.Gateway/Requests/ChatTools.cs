using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Cluster.Contracts.Api;
using Cluster.JsonSchemas;

namespace Cluster.Gateway.Requests;

/// <summary>
/// A chat request's tools (OpenAI's function calling), checked: what the chat template renders as <c>tools</c>, the
/// schema that holds the answer to a call when the request requires one (<see cref="CallSchema"/>), and how calls are
/// read back from the answer (<see cref="ReadCalls"/>), in one place for both front doors.
/// </summary>
public sealed partial class ChatTools
{
    /// <summary>The most tools one request may offer.</summary>
    public const int MaxTools = 128;

    /// <summary>Per tool: its name, description and parameters' schema (null when the request gave none).</summary>
    private readonly IReadOnlyList<(string Name, string Description, JsonElement? Parameters)> _tools;

    private ChatTools(IReadOnlyList<(string, string, JsonElement?)> tools, ToolChoice choice, string? named, string? callSchema)
    {
        _tools = tools;
        Choice = choice;
        Named = named;
        CallSchema = callSchema;
    }

    public ToolChoice Choice { get; }

    /// <summary>The tool to call with <see cref="ToolChoice.Function"/>.</summary>
    public string? Named { get; }

    /// <summary>
    /// With REQUIRED or FUNCTION: the JSON Schema the answer is held to, <c>{"name": ..., "arguments": ...}</c> for one of
    /// the tools (the named one); null otherwise.
    /// </summary>
    public string? CallSchema { get; }

    /// <summary>
    /// What the chat template reads as <c>tools</c>: OpenAI's tool objects as the request gave them (a description or
    /// parameters it left out stay out), as transformers passes them.
    /// </summary>
    public IReadOnlyList<Dictionary<string, object?>> TemplateValue() => [.. _tools.Select(tool =>
    {
        var function = new Dictionary<string, object?> { ["name"] = tool.Name };
        if (tool.Description.Length > 0)
        {
            function["description"] = tool.Description;
        }
        if (tool.Parameters is { } parameters)
        {
            function["parameters"] = parameters;
        }
        return new Dictionary<string, object?> { ["type"] = "function", ["function"] = function };
    })];

    /// <summary>The request's tools checked, or null when it offers none.</summary>
    /// <exception cref="Grpc.Core.RpcException">INVALID_ARGUMENT naming the field: a bad name or schema, a choice without tools, a template that cannot show them.</exception>
    public static ChatTools? Check(ChatMessages request, ChatFormat chat, string model)
    {
        if (request.Tools.Count == 0)
        {
            return request.ToolChoice == ToolChoice.Auto && request.ToolChoiceName.Length == 0
                ? null
                : throw InvalidArgument.Error("messages.tool_choice needs messages.tools: there is no tool to call");
        }
        if (request.Tools.Count > MaxTools)
        {
            throw InvalidArgument.Error($"messages.tools has {request.Tools.Count} tools; at most {MaxTools}");
        }
        if (!chat.RendersTools)
        {
            throw InvalidArgument.Error($"messages.tools: the chat template of model '{model}' does not render tools (it never reads `tools`), so the model would not see them");
        }
        var tools = new List<(string, string, JsonElement?)>();
        for (var i = 0; i < request.Tools.Count; i++)
        {
            var tool = request.Tools[i];
            if (!ToolName().IsMatch(tool.Name))
            {
                throw InvalidArgument.Error($"messages.tools[{i}].name must be 1-64 characters of a-z, A-Z, 0-9, '_' and '-'; got \"{tool.Name}\"");
            }
            if (tools.Any(t => t.Item1 == tool.Name))
            {
                throw InvalidArgument.Error($"messages.tools[{i}].name \"{tool.Name}\" is given twice");
            }
            tools.Add((tool.Name, tool.Description, Parameters(tool.ParametersJson, $"messages.tools[{i}].parameters_json")));
        }
        var named = request.ToolChoice == ToolChoice.Function ? request.ToolChoiceName : null;
        if (request.ToolChoice != ToolChoice.Function && request.ToolChoiceName.Length > 0)
        {
            throw InvalidArgument.Error("messages.tool_choice_name is given but messages.tool_choice is not FUNCTION");
        }
        if (named is not null && tools.All(t => t.Item1 != named))
        {
            throw InvalidArgument.Error($"messages.tool_choice_name \"{named}\" is none of messages.tools' names");
        }
        var callSchema = request.ToolChoice switch
        {
            ToolChoice.Auto or ToolChoice.None => null,
            ToolChoice.Required => CallSchemaOf(tools, request),
            ToolChoice.Function => CallSchemaOf([.. tools.Where(t => t.Item1 == named)], request),
            _ => throw InvalidArgument.Error($"messages.tool_choice must be AUTO, NONE, REQUIRED or FUNCTION; got {(int)request.ToolChoice}"),
        };
        return new ChatTools(tools, request.ToolChoice, named, callSchema);
    }

    /// <summary>A tool's parameters' schema, or null when the request gave none.</summary>
    private static JsonElement? Parameters(string text, string field) => text.Length == 0 ? null
        : RequestJson.Parse(text, field) is { ValueKind: JsonValueKind.Object } schema ? schema
        : throw InvalidArgument.Error($"{field} must be a JSON Schema object");

    /// <summary>
    /// {"name": &lt;one tool's name&gt;, "arguments": &lt;its parameters&gt;} for any of <paramref name="tools"/>. Each
    /// tool's parameters are checked alone first, so an error names the tool and the place in its own schema; in the call
    /// schema they keep their meaning: each also stands under <c>$defs/tool{i}</c>, and their local references
    /// (<c>#</c>, <c>#/$defs/...</c>) point there instead of at the call schema's root.
    /// </summary>
    private static string CallSchemaOf(IReadOnlyList<(string Name, string Description, JsonElement? Parameters)> tools, ChatMessages request)
    {
        var definitions = new JsonObject();
        var calls = new List<JsonNode>();
        foreach (var tool in tools)
        {
            var index = request.Tools.ToList().FindIndex(t => t.Name == tool.Name);
            var parameters = tool.Parameters ?? NoParameters;
            try
            {
                CompiledTexts.CheckSchema(parameters.GetRawText());
            }
            catch (JsonSchemaException e)
            {
                throw InvalidArgument.Error($"messages.tools[{index}].parameters_json at {(e.Pointer.Length == 0 ? "its root" : e.Pointer)}: {e.Problem}");
            }
            var home = $"#/$defs/tool{index}";
            definitions[$"tool{index}"] = Rebased(JsonNode.Parse(parameters.GetRawText()), home);
            calls.Add(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject { ["name"] = new JsonObject { ["const"] = tool.Name }, ["arguments"] = Rebased(JsonNode.Parse(parameters.GetRawText()), home) },
                ["required"] = new JsonArray("name", "arguments"),
                ["additionalProperties"] = false,
            });
        }
        var schema = calls.Count == 1 ? calls[0].AsObject() : new JsonObject { ["anyOf"] = new JsonArray([.. calls]) };
        schema["$defs"] = definitions;
        var text = schema.ToJsonString();
        try
        {
            CompiledTexts.CheckSchema(text);
            return text;
        }
        catch (JsonSchemaException e)
        {
            throw InvalidArgument.Error($"messages.tool_choice: the schema of a call to {(calls.Count == 1 ? $"\"{tools[0].Name}\"" : "any of the tools")} cannot be held: {e.Problem}");
        }
    }

    /// <summary>
    /// <paramref name="schema"/> with every local <c>$ref</c> made to point under <paramref name="home"/> (its place in
    /// the call schema). Values that are data, not schemas (enum, const, default, examples), are left as they are.
    /// </summary>
    private static JsonNode? Rebased(JsonNode? schema, string home)
    {
        switch (schema)
        {
            case JsonObject node:
                foreach (var (key, value) in node.ToList())
                {
                    if (key is "enum" or "const" or "default" or "examples")
                    {
                        continue;
                    }
                    node[key] = key == "$ref" && value is JsonValue reference && reference.TryGetValue<string>(out var target) && target.StartsWith('#')
                        ? home + target[1..]
                        : Rebased(value?.DeepClone(), home);
                }
                return node;
            case JsonArray list:
                for (var i = 0; i < list.Count; i++)
                {
                    list[i] = Rebased(list[i]?.DeepClone(), home);
                }
                return list;
            default:
                return schema;
        }
    }

    /// <summary>What a tool without parameters takes: an object with no properties.</summary>
    private static readonly JsonElement NoParameters = JsonDocument.Parse("""{"type": "object", "properties": {}}""").RootElement.Clone();

    /// <summary>
    /// The calls in a finished answer: with REQUIRED or FUNCTION the answer is one call's JSON; with AUTO, Hermes-style
    /// <c>&lt;tool_call&gt;{...}&lt;/tool_call&gt;</c> blocks (the last may lack its closing tag), Llama 3.1's custom-tool
    /// <c>&lt;function=NAME&gt;{...}&lt;/function&gt;</c> blocks (likewise), an answer that is
    /// one <c>{"name": ..., "arguments"|"parameters": {...}}</c> object (Llama 3.x), or a JSON array of such objects,
    /// after <c>[TOOL_CALLS]</c> or not (Mistral). Only calls of offered tools count; none with NONE.
    /// </summary>
    public IReadOnlyList<ToolCall> ReadCalls(string answer)
    {
        if (Choice == ToolChoice.None)
        {
            return [];
        }
        var calls = new List<ToolCall>();
        foreach (Match block in HermesCall().Matches(answer))
        {
            if (Call(block.Groups[1].Value) is { } call)
            {
                calls.Add(call);
            }
        }
        foreach (Match block in LlamaFunctionCall().Matches(answer))
        {
            if (Call($$"""{"name": "{{block.Groups[1].Value}}", "arguments": {{block.Groups[2].Value}}}""") is { } call)
            {
                calls.Add(call);
            }
        }
        var whole = answer.Trim().Replace("<|python_tag|>", "", StringComparison.Ordinal).Replace("[TOOL_CALLS]", "", StringComparison.Ordinal).Trim();
        if (calls.Count == 0 && Call(whole) is { } one)
        {
            calls.Add(one);
        }
        if (calls.Count == 0 && whole.StartsWith('['))
        {
            calls.AddRange(CallList(whole));
        }
        return calls;
    }

    /// <summary>An answer that is a JSON array of call objects (Mistral's <c>[TOOL_CALLS] [...]</c>): all of them, or none when one is not a call.</summary>
    private List<ToolCall> CallList(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var calls = document.RootElement.EnumerateArray().Select(item => Call(item.GetRawText())).ToList();
            return calls.Count > 0 && calls.All(call => call is not null) ? [.. calls.OfType<ToolCall>()] : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    /// <summary>What the answer says beside its calls (the text outside Hermes blocks, trimmed); empty when it is only calls.</summary>
    public static string TextBesideCalls(string answer)
    {
        var beside = LlamaFunctionCall().Replace(HermesCall().Replace(answer, ""), "").Replace("[TOOL_CALLS]", "", StringComparison.Ordinal).Trim();
        // A Llama-style answer is the call itself, a Mistral-style one the list of calls.
        return (beside.StartsWith('{') && beside.EndsWith('}')) || (beside.StartsWith('[') && beside.EndsWith(']')) ? "" : beside;
    }

    /// <summary>
    /// How many leading characters of an unfinished AUTO answer are surely text rather than the start of a call, so a
    /// stream can send them as they come: up to the first <c>&lt;tool_call&gt;</c> or <c>&lt;function=</c>, or to a trailing beginning of one;
    /// none while the whole answer could still be one Llama-style call object or a Mistral-style list of calls (it
    /// starts with '{', '[', <c>&lt;|python_tag|&gt;</c> or <c>[TOOL_CALLS]</c>, or has nothing but whitespace yet).
    /// </summary>
    public static int SurelyText(string answer)
    {
        const string block = "<tool_call>";
        const string pythonTag = "<|python_tag|>";
        var start = answer.AsSpan().TrimStart();
        const string mistralTag = "[TOOL_CALLS]";
        if (start.IsEmpty || start[0] is '{' or '[' || start.StartsWith(pythonTag) || pythonTag.AsSpan().StartsWith(start[..Math.Min(start.Length, pythonTag.Length)])
            || start.StartsWith(mistralTag) || mistralTag.AsSpan().StartsWith(start[..Math.Min(start.Length, mistralTag.Length)]))
        {
            return 0;
        }
        // Up to the first block that begins a call (Hermes' or Llama's), or to a trailing beginning of one.
        var surely = answer.Length;
        foreach (var marker in (string[])[block, FunctionBlock])
        {
            var at = answer.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                surely = Math.Min(surely, at);
                continue;
            }
            for (var k = Math.Min(answer.Length, marker.Length - 1); k > 0; k--)
            {
                if (marker.AsSpan().StartsWith(answer.AsSpan(answer.Length - k)))
                {
                    surely = Math.Min(surely, answer.Length - k);
                    break;
                }
            }
        }
        return surely;
    }

    private ToolCall? Call(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String
                || _tools.All(t => t.Name != name.GetString()))
            {
                return null;
            }
            var arguments = root.TryGetProperty("arguments", out var given) || root.TryGetProperty("parameters", out given) ? given : default;
            if (arguments.ValueKind == JsonValueKind.String && arguments.GetString() is { } text && text.TrimStart().StartsWith('{'))
            {
                return Call($$"""{"name": {{name.GetRawText()}}, "arguments": {{text}}}"""); // arguments written as a JSON string
            }
            return arguments.ValueKind is JsonValueKind.Object or JsonValueKind.Undefined
                ? new ToolCall { Id = NewCallId(), Name = name.GetString()!, ArgumentsJson = arguments.ValueKind == JsonValueKind.Object ? arguments.GetRawText() : "{}" }
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static string NewCallId() =>
        "call_" + System.Security.Cryptography.RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 24);

    [GeneratedRegex("^[a-zA-Z0-9_-]{1,64}$")]
    private static partial Regex ToolName();

    [GeneratedRegex(@"<tool_call>\s*(\{.*?\})\s*(?:</tool_call>|$)", RegexOptions.Singleline)]
    private static partial Regex HermesCall();

    /// <summary>What begins a Llama 3.1 custom-tool call, <c>&lt;function=NAME&gt;{...}&lt;/function&gt;</c>.</summary>
    private const string FunctionBlock = "<function=";

    [GeneratedRegex(@"<function=([A-Za-z0-9_-]+)>\s*(\{.*?\})\s*(?:</function>|$)", RegexOptions.Singleline)]
    private static partial Regex LlamaFunctionCall();
}
