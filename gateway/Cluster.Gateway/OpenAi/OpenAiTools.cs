using System.Text.Json;
using Cluster.Contracts.Api;

namespace Cluster.Gateway.OpenAi;

/// <summary>OpenAI's function calling in a chat request (tools, tool_choice, an assistant turn's tool_calls), as the gRPC API's fields. Shapes only.</summary>
internal static class OpenAiTools
{
    /// <summary>
    /// OpenAI's <c>tools</c>: function tools, each {"type": "function", "function": {"name", "description", "parameters"}},
    /// or with <paramref name="flat"/> (the Responses API) {"type": "function", "name", "description", "parameters"}.
    /// </summary>
    public static IEnumerable<Tool> Tools(OpenAiJson json, bool flat = false)
    {
        switch (json.Element("tools"))
        {
            case null:
                yield break;
            case { ValueKind: JsonValueKind.Array } tools:
                var i = 0;
                foreach (var tool in tools.EnumerateArray())
                {
                    var field = $"tools[{i++}]";
                    var body = tool.ValueKind == JsonValueKind.Object ? new OpenAiJson(tool) : throw OpenAiJson.WrongType(field, "a tool object", tool);
                    if (body.String("type") != "function")
                    {
                        throw OpenAiError.BadRequest($"{field}.type must be \"function\"; this server calls functions only", "tools");
                    }
                    var function = flat ? body
                        : body.Element("function") is { ValueKind: JsonValueKind.Object } given ? new OpenAiJson(given)
                        : throw OpenAiError.BadRequest($"{field}.function is required (an object with name, description and parameters)", "tools");
                    var at = flat ? field : $"{field}.function";
                    yield return new Tool
                    {
                        Name = function.String("name") ?? throw OpenAiError.BadRequest($"{at}.name is required", "tools"),
                        Description = function.String("description") ?? "",
                        ParametersJson = function.Element("parameters") is { } parameters ? parameters.GetRawText() : "",
                    };
                }
                break;
            case { } other:
                throw OpenAiJson.WrongType("tools", "an array of tools", other);
        }
    }

    /// <summary>
    /// OpenAI's <c>tool_choice</c>: "auto" (the default), "none", "required", or {"type": "function", "function": {"name": ...}}
    /// (with <paramref name="flat"/>, the Responses API's {"type": "function", "name": ...}).
    /// </summary>
    public static void ReadToolChoice(OpenAiJson json, ChatMessages messages, bool flat = false)
    {
        switch (json.Element("tool_choice"))
        {
            case null:
                return;
            case { ValueKind: JsonValueKind.String } choice:
                messages.ToolChoice = choice.GetString() switch
                {
                    "auto" => ToolChoice.Auto,
                    "none" => ToolChoice.None,
                    "required" => ToolChoice.Required,
                    var other => throw OpenAiError.BadRequest($"tool_choice \"{other}\" is not supported (\"auto\", \"none\", \"required\" or a function)", "tool_choice"),
                };
                return;
            case { ValueKind: JsonValueKind.Object } named when flat && new OpenAiJson(named).String("type") == "function":
                messages.ToolChoice = ToolChoice.Function;
                messages.ToolChoiceName = new OpenAiJson(named).String("name") ?? throw OpenAiError.BadRequest("tool_choice.name is required", "tool_choice");
                return;
            case { ValueKind: JsonValueKind.Object } named when !flat && new OpenAiJson(named).Element("function") is { ValueKind: JsonValueKind.Object } function:
                messages.ToolChoice = ToolChoice.Function;
                messages.ToolChoiceName = new OpenAiJson(function).String("name") ?? throw OpenAiError.BadRequest("tool_choice.function.name is required", "tool_choice");
                return;
            case { } other:
                throw OpenAiJson.WrongType("tool_choice", flat
                    ? "\"auto\", \"none\", \"required\" or {\"type\": \"function\", \"name\": ...}"
                    : "\"auto\", \"none\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}", other);
        }
    }

    /// <summary>An assistant turn's <c>tool_calls</c>, as a response returned them (arguments as a JSON string).</summary>
    public static IEnumerable<ToolCall> ToolCalls(JsonElement? calls, string field)
    {
        switch (calls)
        {
            case null:
                yield break;
            case { ValueKind: JsonValueKind.Array } list:
                var j = 0;
                foreach (var call in list.EnumerateArray())
                {
                    var at = $"{field}[{j++}]";
                    var function = call.ValueKind == JsonValueKind.Object && new OpenAiJson(call).Element("function") is { ValueKind: JsonValueKind.Object } given
                        ? new OpenAiJson(given)
                        : throw OpenAiError.BadRequest($"{at}.function is required (an object with name and arguments)", "messages");
                    yield return new ToolCall
                    {
                        Id = new OpenAiJson(call).String("id") ?? "",
                        Name = function.String("name") ?? throw OpenAiError.BadRequest($"{at}.function.name is required", "messages"),
                        ArgumentsJson = function.Element("arguments") switch
                        {
                            { ValueKind: JsonValueKind.String } text => text.GetString()!,
                            { ValueKind: JsonValueKind.Object } value => value.GetRawText(),
                            null => "{}",
                            { } other => throw OpenAiJson.WrongType($"{at}.function.arguments", "a JSON object's text", other),
                        },
                    };
                }
                break;
            case { } other:
                throw OpenAiJson.WrongType(field, "an array of tool calls", other);
        }
    }
}
