using Cluster.ChatTemplates;
using TemplateMessage = Cluster.ChatTemplates.ChatMessage;
using Cluster.Contracts.Api;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Requests;

/// <summary>
/// Generate's <c>messages</c> prompt: the conversation rendered with the model's chat template and its generation
/// prompt, then tokenized with special tokens recognised and no BOS added (the template writes BOS where the model
/// was trained with it), as transformers' <c>apply_chat_template(tokenize=True)</c> does. In a session the client
/// sends the whole conversation every turn, as to OpenAI's API; the part the session's tokens already hold is not
/// computed again (<see cref="ReusablePrefix"/>).
/// </summary>
internal static class ChatPrompt
{
    /// <summary>The model's chat format, or INVALID_ARGUMENT when it has none.</summary>
    public static ChatFormat Required(ChatFormat? chat, string model) =>
        chat ?? throw InvalidArgument.Error($"messages: model '{model}' has no chat template (ListModels' has_chat_template); send text or token_ids");

    /// <param name="tools">The request's tools, checked (<see cref="ChatTools.Check"/>), or null.</param>
    public static IReadOnlyList<int> Tokenize(ChatMessages request, ChatFormat chat, ChatTools? tools, string model, CheckpointTokenizer tokenizer, ModelLimits limits)
    {
        if (request.Messages.Count == 0)
        {
            throw InvalidArgument.Error("prompt is empty: messages has no message");
        }
        var messages = new List<TemplateMessage>(request.Messages.Count);
        var characters = 0L;
        for (var i = 0; i < request.Messages.Count; i++)
        {
            var message = request.Messages[i];
            if (string.IsNullOrWhiteSpace(message.Role))
            {
                throw InvalidArgument.Error($"messages[{i}].role is empty");
            }
            characters += message.Content.Length + message.ToolCalls.Sum(call => (long)call.ArgumentsJson.Length);
            messages.Add(new TemplateMessage(message.Role, message.Content, Fields(message, i)));
        }
        if (characters > limits.MaxPromptCharacters)
        {
            throw InvalidArgument.Error($"messages' contents have {characters} characters; at most {limits.MaxPromptCharacters} are allowed");
        }

        string prompt;
        try
        {
            prompt = chat.Render(messages, tools?.TemplateValue());
        }
        catch (ChatTemplateException refused)
        {
            throw InvalidArgument.Error($"messages: the chat template of model '{model}' refused the conversation: {refused.Reason}");
        }
        PromptTokens.CheckTextLength(prompt, limits, "rendered chat prompt");
        var tokens = tokenizer.Encode(prompt, addBos: false, allowSpecialTokens: true);
        return tokens.Count > 0 ? tokens : throw InvalidArgument.Error("prompt is empty: the chat template rendered no tokens");
    }

    /// <summary>
    /// A turn's keys beside role and content, as transformers passes them to the template: an assistant turn's
    /// <c>tool_calls</c> (id, type, and function with its name and its arguments parsed), a tool turn's
    /// <c>tool_call_id</c>; null when it has neither.
    /// </summary>
    private static Dictionary<string, object?>? Fields(Contracts.Api.ChatMessage message, int index)
    {
        if (message.ToolCalls.Count == 0 && message.ToolCallId.Length == 0)
        {
            return null;
        }
        var fields = new Dictionary<string, object?>();
        if (message.ToolCalls.Count > 0)
        {
            fields["tool_calls"] = message.ToolCalls.Select((call, j) => new Dictionary<string, object?>
            {
                ["id"] = call.Id,
                ["type"] = "function",
                ["function"] = new Dictionary<string, object?> { ["name"] = call.Name, ["arguments"] = RequestJson.Parse(call.ArgumentsJson.Length == 0 ? "{}" : call.ArgumentsJson, $"messages[{index}].tool_calls[{j}].arguments_json") },
            }).ToList();
        }
        if (message.ToolCallId.Length > 0)
        {
            fields["tool_call_id"] = message.ToolCallId;
        }
        return fields;
    }

    /// <summary>
    /// How many leading tokens of a session's history a rendered conversation repeats: the tokens the stages may keep.
    /// Compared token by token rather than trusted by turn, because the model's own reply, re-rendered as the
    /// assistant's message, need not tokenize as it was sampled (the end-of-turn marker, a different split): the
    /// cache is kept up to the first difference, as the peers' prefix caches do. At least one token is left to
    /// compute, so the conversation's last position gives the first new token's logits.
    /// </summary>
    public static int ReusablePrefix(IReadOnlyList<int> history, IReadOnlyList<int> conversation)
    {
        var shared = 0;
        var limit = Math.Min(history.Count, conversation.Count - 1);
        while (shared < limit && history[shared] == conversation[shared])
        {
            shared++;
        }
        return shared;
    }
}
