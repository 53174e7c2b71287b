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
        var validated = GenerateRequestValidator.Validate(Chat(("system", "Be brief."), ("user", "Hi")), "m", TestTokenizers.Gpt2, Limits, [], "r", chat: chat);

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
        void Refused(GenerateRequest request, ChatFormat? format, string part)
        {
            var error = Assert.Throws<RpcException>(() => GenerateRequestValidator.Validate(request, "m", TestTokenizers.Gpt2, Limits, [], "r", chat: format));
            Assert.True(error.StatusCode == StatusCode.InvalidArgument && error.Status.Detail.Contains(part, StringComparison.Ordinal),
                $"expected INVALID_ARGUMENT containing \"{part}\"; got {error.StatusCode}: {error.Status.Detail}");
        }
        Refused(Chat(("user", "Hi")), null, "model 'm' has no chat template");
        Refused(Chat(("system", "x"), ("user", "Hi")), chat, "refused the conversation: System role not supported");
        Refused(Chat(), chat, "messages has no message");
        Refused(Chat(("", "Hi")), chat, "messages[0].role is empty");
        Refused(Chat(("user", new string('a', 101))), chat, "at most 100");
    }

    [Theory]
    [InlineData(new int[0], new[] { 1, 2, 3 }, 0)] // a session's first turn: nothing to keep
    [InlineData(new[] { 1, 2, 3, 9 }, new[] { 1, 2, 3, 4, 5 }, 3)] // the reply re-tokenized differently from position 3
    [InlineData(new[] { 1, 2 }, new[] { 1, 2, 3, 4 }, 2)] // the whole history repeated: keep all of it
    [InlineData(new[] { 1, 2, 3 }, new[] { 1, 2, 3 }, 2)] // the same conversation again: the last position is recomputed for its logits
    [InlineData(new[] { 7, 2, 3 }, new[] { 1, 2, 3 }, 0)] // another conversation: the session starts over
    public void AConversationKeepsTheHistoryUpToItsFirstDifferentTokenAndAlwaysComputesOne(int[] history, int[] conversation, int kept)
    {
        Assert.Equal(kept, ChatPrompt.ReusablePrefix(history, conversation));
    }

    [Fact]
    public void MessagesInASessionKeepTheRepeatedHistoryAndPromptTheRest()
    {
        using var directory = Checkpoint("{% for m in messages %}{{ m.role + ': ' + m.content + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}");
        var chat = ChatFormat.Load(directory.Path, SpecialTokens)!;
        var firstTurn = TestTokenizers.Gpt2.Encode("user: Hi\nassistant:", addBos: false);
        var reply = TestTokenizers.Gpt2.Encode(" Hello\n", addBos: false);
        int[] history = [.. firstTurn, .. reply];
        var request = Chat(("user", "Hi"), ("assistant", "Hello"), ("user", "Bye")); // the template writes ": " before it

        var validated = GenerateRequestValidator.Validate(request, "m", TestTokenizers.Gpt2, Limits, history, "r", chat: chat);

        var conversation = TestTokenizers.Gpt2.Encode("user: Hi\nassistant: Hello\nuser: Bye\nassistant:", addBos: false);
        Assert.True(validated.HistoryKept == history.Length && validated.PromptTokens.SequenceEqual(conversation.Skip(history.Length)),
            $"kept {validated.HistoryKept} of [{string.Join(",", history)}], prompt [{string.Join(",", validated.PromptTokens)}]; conversation [{string.Join(",", conversation)}]");
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
