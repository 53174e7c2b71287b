using System.Text.Json;
using Cluster.Contracts.Api;
using Cluster.Gateway.Requests;
using Cluster.Testing;
using Grpc.Core;

namespace Cluster.Gateway.Tests.Requests;

/// <summary>
/// Generate's messages: the checkpoint's chat template is found where transformers looks, rendered with the
/// generation prompt and the tokenizer_config's special-token strings, and tokenized without an added BOS; a model
/// without a template, a template that refuses the conversation, or a bad message is INVALID_ARGUMENT naming why;
/// a template the renderer cannot handle fails the model's load naming the file and line.
/// </summary>
public sealed class ChatPromptTests
{
    // ChatML, as Qwen2 and SmolLM2 write it, with the BOS string the config names (a template may read it).
    private const string ChatMl =
        "{{ bos_token }}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    // As the checkpoint's tokenizer reads them from the tokenizer_config.json written below (CheckpointTokenizer.NamedSpecialTokens).
    private static readonly Dictionary<string, string> SpecialTokens = new() { ["bos_token"] = "<s>", ["eos_token"] = "</s>" };

    private static readonly ModelLimits Limits = new(ContextLength: 512, VocabularySize: 1024, MaxNewTokensLimit: 32, MaxPromptCharacters: 100);

    private static TempDirectory Checkpoint(object? chatTemplate, string? jinjaFile = null)
    {
        var directory = TempDirectory.Create("chat-format");
        var config = new Dictionary<string, object?> { ["bos_token"] = new { content = "<s>" }, ["eos_token"] = "</s>" };
        if (chatTemplate is not null)
        {
            config["chat_template"] = chatTemplate;
        }
        File.WriteAllText(Path.Combine(directory.Path, "tokenizer_config.json"), JsonSerializer.Serialize(config));
        if (jinjaFile is not null)
        {
            File.WriteAllText(Path.Combine(directory.Path, "chat_template.jinja"), jinjaFile);
        }
        return directory;
    }

    private static GenerateRequest Chat(params (string Role, string Content)[] messages)
    {
        var request = new GenerateRequest { Messages = new ChatMessages() };
        request.Messages.Messages.AddRange(messages.Select(m => new ChatMessage { Role = m.Role, Content = m.Content }));
        return request;
    }

    [Fact]
    public void TheConfigsTemplateRendersTheConversationWithTheGenerationPromptAndIsTokenizedWithoutAnAddedBos()
    {
        using var directory = Checkpoint(ChatMl);
        var chat = ChatFormat.Load(directory.Path, SpecialTokens)!;
        var validated = GenerateRequestValidator.Validate(Chat(("system", "Be brief."), ("user", "Hi")), "m", TestTokenizers.Gpt2, Limits, 0, "r", chat: chat);

        const string expected = "<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
        Assert.Equal(expected, chat.Render([new("system", "Be brief."), new("user", "Hi")]));
        var tokens = TestTokenizers.Gpt2.Encode(expected, addBos: false);
        Assert.True(validated.PromptTokens.SequenceEqual(tokens),
            $"prompt tokens [{string.Join(", ", validated.PromptTokens)}], the rendered prompt encodes to [{string.Join(", ", tokens)}]");
    }

    [Fact]
    public void ChatTemplateJinjaComesFirstAndANamedListGivesItsDefault()
    {
        using (var both = Checkpoint("config", jinjaFile: "jinja {{ messages[0].content }}"))
        {
            Assert.Equal("jinja x", ChatFormat.Load(both.Path, SpecialTokens)!.Render([new("user", "x")]));
        }
        using var named = Checkpoint(new object[] { new { name = "tool_use", template = "tools" }, new { name = "default", template = "default {{ eos_token }}" } });
        Assert.Equal("default </s>", ChatFormat.Load(named.Path, SpecialTokens)!.Render([new("user", "x")]));
        using var none = Checkpoint(null);
        Assert.Null(ChatFormat.Load(none.Path, SpecialTokens));
    }

    [Fact]
    public void ATemplateTheRendererCannotHandleFailsTheLoadNamingTheFileAndLine()
    {
        using var directory = Checkpoint("line one\n{% include 'other.jinja' %}");
        var error = Assert.Throws<InvalidOperationException>(() => ChatFormat.Load(directory.Path, SpecialTokens));
        Assert.True(error.Message.Contains("tokenizer_config.json") && error.Message.Contains("include") && error.Message.Contains("line 2"),
            $"message: {error.Message}");
    }

    [Fact]
    public void BadConversationsAreInvalidArgumentsNamingWhy()
    {
        using var directory = Checkpoint("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ messages[0].content }}");
        var chat = ChatFormat.Load(directory.Path, SpecialTokens)!;
        void Refused(GenerateRequest request, ChatFormat? format, int history, string part)
        {
            var error = Assert.Throws<RpcException>(() => GenerateRequestValidator.Validate(request, "m", TestTokenizers.Gpt2, Limits, history, "r", chat: format));
            Assert.True(error.StatusCode == StatusCode.InvalidArgument && error.Status.Detail.Contains(part, StringComparison.Ordinal),
                $"expected INVALID_ARGUMENT containing \"{part}\"; got {error.StatusCode}: {error.Status.Detail}");
        }
        Refused(Chat(("user", "Hi")), null, 0, "model 'm' has no chat template");
        Refused(Chat(("system", "x"), ("user", "Hi")), chat, 0, "refused the conversation: System role not supported");
        Refused(Chat(), chat, 0, "messages has no message");
        Refused(Chat(("", "Hi")), chat, 0, "messages[0].role is empty");
        Refused(Chat(("user", "Hi")), chat, 5, "not supported in a session that already holds turns");
        Refused(Chat(("user", new string('a', 101))), chat, 0, "at most 100");
    }
}

/// <summary>The default model's chat template (models/default/chat_template.jinja) loads and renders plain lines.</summary>
public sealed class DefaultModelChatTemplateTests
{
    [Fact]
    public void TheDefaultModelsTemplateJoinsTheContentsOneLineEach()
    {
        var directory = RepositoryRoot.PathOf("models", "default");
        var chat = ChatFormat.Load(directory, Cluster.Tokenizers.CheckpointTokenizer.Load(directory).NamedSpecialTokens);
        Assert.NotNull(chat);
        var prompt = chat.Render([new("system", "  The book of Genesis. "), new("user", "In the beginning God created")]);
        Assert.True(prompt == "The book of Genesis.\nIn the beginning God created", $"rendered \"{prompt}\"");
    }
}
