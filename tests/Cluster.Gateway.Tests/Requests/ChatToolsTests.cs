using Cluster.Contracts.Api;
using Cluster.Gateway.Requests;
using Grpc.Core;

namespace Cluster.Gateway.Tests.Requests;

/// <summary>
/// Tool calls read back from an answer: Hermes-style blocks (several, the last unclosed), a Llama-style answer that is
/// one call, arguments written as a JSON string, and what is not a call of an offered tool (an unknown name, NONE).
/// Also the call schema that REQUIRED and FUNCTION hold the answer to.
/// </summary>
public sealed class ChatToolsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("chat-tools-").FullName;
    private readonly ChatFormat _chat;

    public ChatToolsTests()
    {
        File.WriteAllText(Path.Combine(_directory, "chat_template.jinja"), "{{ tools | tojson }}{% for m in messages %}{{ m.content }}{% endfor %}");
        _chat = ChatFormat.Load(_directory, new Dictionary<string, string>())!;
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private ChatTools Tools(ToolChoice choice = ToolChoice.Auto, string name = "")
    {
        var messages = new ChatMessages { ToolChoice = choice, ToolChoiceName = name };
        messages.Messages.Add(new ChatMessage { Role = "user", Content = "hi" });
        messages.Tools.Add(new Tool { Name = "get_weather", ParametersJson = """{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}""" });
        messages.Tools.Add(new Tool { Name = "get_time" });
        return ChatTools.Check(messages, _chat, "tiny")!;
    }

    [Fact]
    public void HermesBlocksAreCalls_TheLastMayBeUnclosed_AndTheTextBesideThemStays()
    {
        const string answer = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>{\"name\": \"get_time\", \"arguments\": {}}";
        var calls = Tools().ReadCalls(answer);

        Assert.Equal(["get_weather", "get_time"], calls.Select(c => c.Name));
        Assert.Equal("""{"city": "Paris"}""", calls[0].ArgumentsJson);
        Assert.Equal("{}", calls[1].ArgumentsJson);
        Assert.True(calls.All(c => c.Id.StartsWith("call_", StringComparison.Ordinal) && c.Id.Length == 29) && calls[0].Id != calls[1].Id, string.Join(", ", calls.Select(c => c.Id)));
        Assert.Equal("Let me check.", ChatTools.TextBesideCalls(answer));
    }

    [Fact]
    public void LlamasFunctionBlocksAreCalls_TheLastMayBeUnclosed_AndTheTextBesideThemStays()
    {
        // Llama 3.1's custom tools, as its model card prompts them: <function=NAME>{...}</function>.
        const string answer = "Checking.<function=get_weather>{\"city\": {\"name\": \"Oslo\"}}</function><function=get_time>{}";
        var calls = Tools().ReadCalls(answer);

        Assert.Equal(["get_weather", "get_time"], calls.Select(c => c.Name));
        Assert.Equal("""{"city": {"name": "Oslo"}}""", calls[0].ArgumentsJson);
        Assert.Equal("{}", calls[1].ArgumentsJson);
        Assert.Equal("Checking.", ChatTools.TextBesideCalls(answer));
        Assert.Empty(Tools().ReadCalls("<function=get_stock>{}</function>")); // not an offered tool
    }

    [Theory]
    [InlineData("""{"name": "get_weather", "parameters": {"city": "Oslo"}}""", """{"city": "Oslo"}""")]
    [InlineData("""<|python_tag|>{"name": "get_weather", "arguments": {"city": "Oslo"}}""", """{"city": "Oslo"}""")]
    [InlineData("""{"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}""", """{"city": "Oslo"}""")]
    public void AnAnswerThatIsOneCallObjectIsACall(string answer, string arguments)
    {
        var call = Assert.Single(Tools().ReadCalls(answer));
        Assert.Equal(("get_weather", arguments), (call.Name, call.ArgumentsJson));
        Assert.Equal("", ChatTools.TextBesideCalls(answer.Replace("<|python_tag|>", "")));
    }

    [Theory]
    [InlineData("""[TOOL_CALLS] [{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "get_time", "arguments": {}}]""")]
    [InlineData("""[{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "get_time", "parameters": {}}]""")]
    public void AnAnswerThatIsAListOfCallsIsThoseCalls(string answer)
    {
        var calls = Tools().ReadCalls(answer);

        Assert.Equal(["get_weather", "get_time"], calls.Select(c => c.Name));
        Assert.Equal("""{"city": "Oslo"}""", calls[0].ArgumentsJson);
        Assert.Equal("", ChatTools.TextBesideCalls(answer));
    }

    [Theory]
    [InlineData("""[{"name": "get_weather", "arguments": {}}, {"name": "get_stock", "arguments": {}}]""")] // one is no offered tool: a list of data
    [InlineData("""[1, 2]""")]
    [InlineData("""{"name": "get_stock", "arguments": {}}""")]                  // not an offered tool
    [InlineData("""The weather is {"name": "get_weather"} fine.""")]             // JSON inside prose is not a call
    [InlineData("""<tool_call>{"name": "get_weather", "arguments": [1]}</tool_call>""")] // arguments not an object
    [InlineData("""<tool_call>not json</tool_call>""")]
    public void WhatIsNotACallOfAnOfferedToolIsText(string answer)
    {
        Assert.Empty(Tools().ReadCalls(answer));
    }

    [Theory]
    [InlineData("The weather", 11)]                            // nothing like a call: all of it
    [InlineData("Let me check. <tool_call>{\"name\"", 14)]    // up to the block
    [InlineData("Let me check. <tool_", 14)]                   // up to what may begin one
    [InlineData("a < b", 5)]                                   // a '<' that cannot begin one any more
    [InlineData("Sure. <function=get", 6)]                     // up to Llama's function block
    [InlineData("Sure. <func", 6)]                             // or what may begin one
    [InlineData("  {\"name\": \"get", 0)]                    // the whole answer may be one call object
    [InlineData("<|python", 0)]
    [InlineData("[TOOL_", 0)]
    [InlineData("[{\"name", 0)]
    [InlineData("   ", 0)]
    public void WhatIsSurelyTextStreamsBeforeTheAnswerEnds(string answer, int surely)
    {
        Assert.Equal(surely, ChatTools.SurelyText(answer));
    }

    [Fact]
    public void NoneNeverCalls_AndRequiredAndFunctionHoldTheAnswerToACallSchema()
    {
        Assert.Empty(Tools(ToolChoice.None).ReadCalls("""{"name": "get_time", "arguments": {}}"""));
        Assert.Null(Tools().CallSchema);

        var named = Tools(ToolChoice.Function, "get_weather").CallSchema!;
        var automaton = Cluster.JsonSchemas.TextAutomaton.FromJsonSchema(named);
        var state = automaton.Start;
        Assert.True(automaton.TryFeed(ref state, System.Text.Encoding.UTF8.GetBytes("""{"name": "get_weather", "arguments": {"city": "Rome"}}""")) && automaton.CanEnd(state), named);
        state = automaton.Start;
        Assert.False(automaton.TryFeed(ref state, System.Text.Encoding.UTF8.GetBytes("""{"name": "get_time", """)), named);

        var required = Cluster.JsonSchemas.TextAutomaton.FromJsonSchema(Tools(ToolChoice.Required).CallSchema!);
        state = required.Start;
        Assert.True(required.TryFeed(ref state, System.Text.Encoding.UTF8.GetBytes("""{"name": "get_time", "arguments": {}}""")) && required.CanEnd(state));
    }

    [Fact]
    public void ParametersWithLocalReferencesKeepTheirMeaningInsideTheCallSchema()
    {
        // "#/$defs/unit" and "#" mean the parameters' own root; inside the call schema they must not mean its root.
        var messages = new ChatMessages { ToolChoice = ToolChoice.Required };
        messages.Messages.Add(new ChatMessage { Role = "user", Content = "hi" });
        messages.Tools.Add(new Tool
        {
            Name = "convert",
            ParametersJson = """{"type": "object", "properties": {"unit": {"$ref": "#/$defs/unit"}, "then": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}}, "required": ["unit", "then"], "$defs": {"unit": {"enum": ["c", "f"]}}}""",
        });
        messages.Tools.Add(new Tool { Name = "get_time" });
        var schema = ChatTools.Check(messages, _chat, "tiny")!.CallSchema!;

        var automaton = Cluster.JsonSchemas.TextAutomaton.FromJsonSchema(schema);
        foreach (var (call, valid) in new[]
        {
            ("""{"name": "convert", "arguments": {"unit": "c", "then": {"unit": "f", "then": null}}}""", true),
            ("""{"name": "get_time", "arguments": {}}""", true),
            ("""{"name": "convert", "arguments": {"unit": "k", "then": null}}""", false),
            ("""{"name": "convert", "arguments": {"unit": "c", "then": {"name": "get_time", "arguments": {}}}}""", false),
        })
        {
            var state = automaton.Start;
            var accepted = automaton.TryFeed(ref state, System.Text.Encoding.UTF8.GetBytes(call)) && automaton.CanEnd(state);
            Assert.True(accepted == valid, $"{call}: {(accepted ? "accepted" : "refused")} by {schema}");
        }
    }

    [Fact]
    public void TheTemplateSeesTheToolsAsGiven_WithoutADescriptionOrParametersTheyLeftOut()
    {
        var tools = Tools().TemplateValue();

        var weather = (Dictionary<string, object?>)tools[0]["function"]!;
        var time = (Dictionary<string, object?>)tools[1]["function"]!;
        Assert.Equal(["name", "parameters"], weather.Keys);
        Assert.Equal(["name"], time.Keys);
        Assert.Equal("function", tools[1]["type"]);
    }

    [Fact]
    public void NoToolsAndNoChoiceIsNoTools_AndAChoiceWithoutToolsIsRefused()
    {
        var messages = new ChatMessages();
        messages.Messages.Add(new ChatMessage { Role = "user", Content = "hi" });
        Assert.Null(ChatTools.Check(messages, _chat, "tiny"));
        messages.ToolChoice = ToolChoice.Required;
        var error = Assert.Throws<RpcException>(() => ChatTools.Check(messages, _chat, "tiny"));
        Assert.Equal("messages.tool_choice needs messages.tools: there is no tool to call", error.Status.Detail);
    }
}
