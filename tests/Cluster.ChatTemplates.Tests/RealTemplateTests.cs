using static Cluster.ChatTemplates.Tests.Rendered;

namespace Cluster.ChatTemplates.Tests;

/// <summary>Real checkpoints' templates render the exact prompts their model cards and the transformers docs show.</summary>
public sealed class RealTemplateTests
{
    private static readonly Dictionary<string, object?> LlamaTokens = new() { ["bos_token"] = "<|begin_of_text|>", ["eos_token"] = "<|eot_id|>" };
    private static readonly Dictionary<string, object?> GemmaTokens = new() { ["bos_token"] = "<bos>", ["eos_token"] = "<eos>" };
    private static readonly Dictionary<string, object?> QwenTokens = new() { ["bos_token"] = null, ["eos_token"] = "<|im_end|>" };

    [Fact]
    public void Llama3_SystemAndUser_WithGenerationPrompt()
    {
        var prompt = Render(RealTemplates.Llama3, [Sys("You are a helpful assistant."), User("Hello!")], true, LlamaTokens);
        Equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", prompt, "Llama 3");
    }

    [Fact]
    public void Llama3_MultiTurn_TrimsContent_WithoutGenerationPrompt()
    {
        var prompt = Render(RealTemplates.Llama3, [User("  Hi  "), Assistant("Hello.\n"), User("Bye")], false, LlamaTokens);
        Equal("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>", prompt, "Llama 3, content trimmed, no generation prompt");
    }

    [Fact]
    public void Llama32_System_DateFromClock()
    {
        var template = ChatTemplate.Parse(RealTemplates.Llama32);
        var prompt = template.Render([Sys("You are a helpful assistant."), User("Hello!")], true, LlamaTokens, new FixedClock(new DateTimeOffset(2024, 7, 26, 9, 0, 0, TimeSpan.Zero)));
        Equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
            + "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n", prompt, "Llama 3.2 with system message");
    }

    [Fact]
    public void Llama32_NoSystem_DateStringVariable_MultiTurn()
    {
        var extra = new Dictionary<string, object?>(LlamaTokens) { ["date_string"] = "01 Jan 2025" };
        var prompt = Render(RealTemplates.Llama32, [User("Hi"), Assistant("Hello!"), User("How are you?")], false, extra);
        Equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 01 Jan 2025\n\n<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|>", prompt, "Llama 3.2 without system message");
    }

    [Fact]
    public void Llama32_Tools_GoIntoFirstUserMessage_AsIndentedJson()
    {
        var extra = new Dictionary<string, object?>(LlamaTokens) { ["date_string"] = "26 Jul 2024", ["tools"] = new[] { WeatherTool() } };
        var prompt = Render(RealTemplates.Llama32, [User("Weather in Paris?")], true, extra);
        const string json = "{\n    \"type\": \"function\",\n    \"function\": {\n        \"name\": \"get_weather\",\n        \"description\": \"Get the weather\",\n"
            + "        \"parameters\": {\n            \"type\": \"object\",\n            \"properties\": {\n                \"city\": {\n                    \"type\": \"string\"\n"
            + "                }\n            },\n            \"required\": [\n                \"city\"\n            ]\n        }\n    }\n}";
        Equal("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\n"
            + "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n"
            + json + "\n\nWeather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", prompt, "Llama 3.2 with tools");
    }

    [Fact]
    public void Qwen25_DefaultSystem_And_GivenSystem()
    {
        Equal("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
            Render(RealTemplates.Qwen25, [User("Hello!")], true, QwenTokens), "Qwen2.5 default system");
        Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n",
            Render(RealTemplates.Qwen25, [Sys("Be brief."), User("Hi"), Assistant("Hello"), User("Bye")], false, QwenTokens), "Qwen2.5 multi-turn with system");
    }

    [Fact]
    public void Qwen25_Tools_CompactJsonInSystemPrompt()
    {
        var extra = new Dictionary<string, object?>(QwenTokens) { ["tools"] = new[] { WeatherTool() } };
        var prompt = Render(RealTemplates.Qwen25, [User("Weather in Paris?")], true, extra);
        Equal("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            + "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
            + "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the weather\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}"
            + "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
            + "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n",
            prompt, "Qwen2.5 with tools");
    }

    [Fact]
    public void Qwen25_ToolCallsAndToolResults_AsTheTemplateWritesThem()
    {
        // An assistant turn's call (arguments as parsed JSON, as transformers passes them) and the tool's answer.
        using var arguments = System.Text.Json.JsonDocument.Parse("""{"city": "Paris", "days": 2}""");
        var call = new Dictionary<string, object?>
        {
            ["id"] = "call_1", ["type"] = "function",
            ["function"] = new Dictionary<string, object?> { ["name"] = "get_weather", ["arguments"] = arguments.RootElement },
        };
        var prompt = Render(RealTemplates.Qwen25,
            [Sys("Be brief."), User("Weather in Paris?"), new ChatMessage("assistant", "", new Dictionary<string, object?> { ["tool_calls"] = new[] { call } }),
             new ChatMessage("tool", "{\"temp\": 21}", new Dictionary<string, object?> { ["tool_call_id"] = "call_1" })], true, QwenTokens);
        Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n"
            + "<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call><|im_end|>\n"
            + "<|im_start|>user\n<tool_response>\n{\"temp\": 21}\n</tool_response><|im_end|>\n<|im_start|>assistant\n", prompt, "Qwen2.5 tool call and result");
    }

    [Fact]
    public void SmolLM2_DefaultSystem_And_GivenSystem()
    {
        Equal("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
            Render(RealTemplates.SmolLM2, [User("Hello!")], true), "SmolLM2 default system");
        Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n",
            Render(RealTemplates.SmolLM2, [Sys("Be brief."), User("Hi"), Assistant("Hello")], false), "SmolLM2 with system, no generation prompt");
    }

    [Fact]
    public void Mistral_MultiTurn_AsTheTransformersDocsShow()
    {
        var prompt = Render(RealTemplates.Mistral,
            [User("Hello, how are you?"), Assistant("I'm doing great. How can I help you today?"), User("I'd like to show off how chat templating works!")], true);
        Equal("<s>[INST] Hello, how are you? [/INST]I'm doing great. How can I help you today?</s>[INST] I'd like to show off how chat templating works! [/INST]",
            prompt, "Mistral (add_generation_prompt has no effect on this template)");
    }

    [Fact]
    public void Mistral_RaisesWhenRolesDoNotAlternate()
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(RealTemplates.Mistral, [User("a"), User("b")], true));
        Assert.True(e.RaisedByTemplate, $"expected a raise_exception, got: {e.Message}");
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", e.Reason);
        var system = Assert.Throws<ChatTemplateException>(() => Render(RealTemplates.Mistral, [Sys("s"), User("a")], true));
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", system.Reason);
    }

    [Fact]
    public void Gemma_MapsAssistantToModel_AndRefusesSystem()
    {
        Equal("<bos><start_of_turn>user\nHello!<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nHow are you?<end_of_turn>\n<start_of_turn>model\n",
            Render(RealTemplates.Gemma, [User("Hello!"), Assistant("Hi there"), User("How are you?")], true, GemmaTokens), "Gemma multi-turn");
        var e = Assert.Throws<ChatTemplateException>(() => Render(RealTemplates.Gemma, [Sys("s"), User("a")], true, GemmaTokens));
        Assert.Equal("System role not supported", e.Reason);
        Assert.True(e.Line == 1 && e.Column > 1, $"expected the position of raise_exception on line 1, got {e.Line}:{e.Column}");
    }

    [Fact]
    public void Gemma3_PutsSystemIntoFirstUserTurn()
    {
        Equal("<bos><start_of_turn>user\nYou are helpful.\n\nHello!<end_of_turn>\n<start_of_turn>model\n",
            Render(RealTemplates.Gemma3, [Sys("You are helpful."), User("Hello!")], true, GemmaTokens), "Gemma 3 with system");
        Equal("<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n",
            Render(RealTemplates.Gemma3, [User("Hi"), Assistant(" Hello ")], false, GemmaTokens), "Gemma 3 without system, content trimmed");
    }

    [Fact]
    public void ChatML_SystemUser()
    {
        Equal("<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            Render(RealTemplates.ChatML, [Sys("You are helpful."), User("Hi")], true), "ChatML with generation prompt");
        Equal("<|im_start|>user\nHi<|im_end|>\n", Render(RealTemplates.ChatML, [User("Hi")], false), "ChatML without generation prompt");
    }

    [Fact]
    public void Zephyr_TrimBlocksKeepTagLinesOut()
    {
        Equal("<|system|>\nYou are a friendly chatbot who always responds in the style of a pirate</s>\n<|user|>\nHow many helicopters can a human eat in one sitting?</s>\n<|assistant|>\n",
            Render(RealTemplates.Zephyr, [Sys("You are a friendly chatbot who always responds in the style of a pirate"), User("How many helicopters can a human eat in one sitting?")], true),
            "Zephyr with generation prompt (the model card's example)");
        Equal("<|user|>\nHi</s>\n<|assistant|>\nHello</s>\n", Render(RealTemplates.Zephyr, [User("Hi"), Assistant("Hello")], false), "Zephyr without generation prompt");
    }

    internal static Dictionary<string, object?> WeatherTool() => new()
    {
        ["type"] = "function",
        ["function"] = new Dictionary<string, object?>
        {
            ["name"] = "get_weather",
            ["description"] = "Get the weather",
            ["parameters"] = new Dictionary<string, object?>
            {
                ["type"] = "object",
                ["properties"] = new Dictionary<string, object?> { ["city"] = new Dictionary<string, object?> { ["type"] = "string" } },
                ["required"] = new[] { "city" },
            },
        },
    };
}

/// <summary>A clock that always reads one instant, in UTC, for strftime_now.</summary>
internal sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now.ToUniversalTime();
    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;
}
