using static Cluster.ChatTemplates.Tests.Rendered;

namespace Cluster.ChatTemplates.Tests;

/// <summary>
/// A session reuses the cached KV of earlier turns only if the earlier prompt is a prefix of the next one: the
/// prompt of turn n (with the generation prompt) must be a prefix of the conversation with the assistant's answer
/// appended (without it), and that of the next user turn. This holds for all templates here when the answer is
/// appended as generated (no surrounding whitespace: Llama 3 and Gemma trim content). It does not hold for
/// templates that rewrite earlier turns (Qwen3 drops past reasoning, for example), which the gateway must detect by
/// comparing the renders, as this test does.
/// </summary>
public sealed class PrefixTests
{
    public static TheoryData<string, string, bool> Templates() => new()
    {
        { "Llama 3", RealTemplates.Llama3, true },
        { "Llama 3.2", RealTemplates.Llama32, true },
        { "Qwen2.5", RealTemplates.Qwen25, true },
        { "SmolLM2", RealTemplates.SmolLM2, true },
        { "Mistral", RealTemplates.Mistral, false },
        { "Gemma", RealTemplates.Gemma, false },
        { "Gemma 3", RealTemplates.Gemma3, true },
        { "ChatML", RealTemplates.ChatML, true },
        { "Zephyr", RealTemplates.Zephyr, true },
    };

    [Theory]
    [MemberData(nameof(Templates))]
    public void EachTurnsPromptIsAPrefixOfTheNext(string name, string source, bool acceptsSystem)
    {
        var template = ChatTemplate.Parse(source);
        var extra = new Dictionary<string, object?>(Tokens) { ["date_string"] = "26 Jul 2024" };
        List<ChatMessage> conversation = acceptsSystem ? [Sys("Be brief.")] : [];
        var previous = "";
        foreach (var (question, answer) in new[] { ("Hi", "Hello!"), ("What is 2+2?", "4."), ("Thanks", "You're welcome.") })
        {
            conversation.Add(User(question));
            var withUser = template.Render(conversation, false, extra);
            Assert.True(withUser.StartsWith(previous, StringComparison.Ordinal),
                $"{name}: the conversation with the new user turn does not start with the previous turn's prompt\nprevious: {Visible(previous)}\nnext:     {Visible(withUser)}");
            var prompt = template.Render(conversation, true, extra);
            conversation.Add(Assistant(answer));
            var answered = template.Render(conversation, false, extra);
            Assert.True(answered.StartsWith(prompt, StringComparison.Ordinal),
                $"{name}: the answered conversation does not start with the generation prompt\nprompt:   {Visible(prompt)}\nanswered: {Visible(answered)}");
            previous = answered;
        }
    }
}
