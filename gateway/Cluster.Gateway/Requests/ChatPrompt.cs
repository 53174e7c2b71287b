using Cluster.ChatTemplates;
using TemplateMessage = Cluster.ChatTemplates.ChatMessage;
using Cluster.Contracts.Api;
using Cluster.Tokenizers;

namespace Cluster.Gateway.Requests;

/// <summary>
/// Generate's <c>messages</c> prompt: the conversation rendered with the model's chat template and its generation
/// prompt, then tokenized with special tokens recognised and no BOS added (the template writes BOS where the model
/// was trained with it), as transformers' <c>apply_chat_template(tokenize=True)</c> does.
/// </summary>
internal static class ChatPrompt
{
    public static IReadOnlyList<int> Tokenize(ChatMessages request, ChatFormat? chat, string model, CheckpointTokenizer tokenizer, ModelLimits limits, int sessionHistoryLength)
    {
        if (chat is null)
        {
            throw InvalidArgument.Error($"messages: model '{model}' has no chat template (ListModels' has_chat_template); send text or token_ids");
        }
        if (sessionHistoryLength > 0)
        {
            // A template renders the whole conversation; appending its rendering to a session's history would repeat it.
            throw InvalidArgument.Error("messages: not supported in a session that already holds turns; send the whole conversation as messages without session_id, or continue the session with text");
        }
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
            characters += message.Content.Length;
            messages.Add(new TemplateMessage(message.Role, message.Content));
        }
        if (characters > limits.MaxPromptCharacters)
        {
            throw InvalidArgument.Error($"messages' contents have {characters} characters; at most {limits.MaxPromptCharacters} are allowed");
        }

        string prompt;
        try
        {
            prompt = chat.Render(messages);
        }
        catch (ChatTemplateException refused)
        {
            throw InvalidArgument.Error($"messages: the chat template of model '{model}' refused the conversation: {refused.Reason}");
        }
        PromptTokens.CheckTextLength(prompt, limits, "rendered chat prompt");
        var tokens = tokenizer.Encode(prompt, addBos: false, allowSpecialTokens: true);
        return tokens.Count > 0 ? tokens : throw InvalidArgument.Error("prompt is empty: the chat template rendered no tokens");
    }
}
