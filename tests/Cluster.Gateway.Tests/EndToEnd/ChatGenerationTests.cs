using Cluster.Contracts.Api;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>
/// Messages through the whole cluster: a checkpoint with a chat template is listed with has_chat_template, and
/// Generate with messages runs the same tokens as Generate with the rendered prompt as text (no BOS added), over two stages.
/// </summary>
public sealed class ChatGenerationTests
{
    private const string Template =
        "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

    [Fact]
    public async Task MessagesRunAsTheirRenderedPrompt()
    {
        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 2, addCheckpointFiles: directory =>
            File.WriteAllText(Path.Combine(directory, "chat_template.jinja"), Template));
        var model = Assert.Single((await cluster.Client.ListModelsAsync(new ListModelsRequest())).Models);
        Assert.True(model.HasChatTemplate, "ListModels does not show the checkpoint's chat template.");

        var sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 8, IgnoreEos = true };
        var chat = new GenerateRequest { Messages = new ChatMessages(), Sampling = sampling };
        chat.Messages.Messages.Add(new ChatMessage { Role = "system", Content = "Be brief." });
        chat.Messages.Messages.Add(new ChatMessage { Role = "user", Content = "hello there" });
        var text = new GenerateRequest { Text = "system: Be brief.\nuser: hello there\nassistant:", AddSpecialTokens = false, Sampling = sampling };

        var (chatTokens, chatLast) = await ShardedGenerationTests.GenerateAsync(cluster, chat);
        var (textTokens, textLast) = await ShardedGenerationTests.GenerateAsync(cluster, text);
        Assert.True(chatTokens.SequenceEqual(textTokens) && chatLast.Usage.PromptTokens == textLast.Usage.PromptTokens,
            $"messages: {chatLast.Usage.PromptTokens} prompt tokens → [{string.Join(", ", chatTokens)}]; rendered text: {textLast.Usage.PromptTokens} → [{string.Join(", ", textTokens)}]");
    }
}
