using System.Text.Json;
using Cluster.ChatTemplates;

namespace Cluster.Gateway.Requests;

/// <summary>
/// A checkpoint's chat format: its chat template and the special-token strings the template reads, loaded with the
/// model (a template this gateway cannot render fails the model's load, naming the file and the template line,
/// rather than prompting the model wrongly later). Where transformers looks: <c>chat_template.jinja</c> first, then
/// <c>chat_template</c> in tokenizer_config.json (a string, or a list of named templates, of which "default").
/// </summary>
public sealed class ChatFormat
{
    private readonly IReadOnlyDictionary<string, object?> _specialTokens;

    private ChatFormat(ChatTemplate template, ChatTemplate? toolTemplate, IReadOnlyDictionary<string, object?> specialTokens, string source)
    {
        Template = template;
        _toolTemplate = toolTemplate;
        _specialTokens = specialTokens;
        Source = source;
    }

    private readonly ChatTemplate? _toolTemplate;

    public ChatTemplate Template { get; }

    /// <summary>
    /// The template shows tools to the model: it reads a <c>tools</c> variable (or the checkpoint has a "tool_use"
    /// template, which transformers picks when tools are given).
    /// </summary>
    public bool RendersTools => _toolTemplate is not null || ReadsTools(Template.Source);

    private static bool ReadsTools(string source) => System.Text.RegularExpressions.Regex.IsMatch(source, @"\btools\b");

    /// <summary>The file the template came from, for messages.</summary>
    public string Source { get; }

    /// <summary>The checkpoint's chat format, or null when it ships no template.</summary>
    /// <param name="specialTokens">bos_token, eos_token… by name, as the checkpoint's tokenizer read them (<c>CheckpointTokenizer.NamedSpecialTokens</c>).</param>
    /// <exception cref="InvalidOperationException">The template is malformed or uses what the renderer does not support.</exception>
    public static ChatFormat? Load(string checkpointDirectory, IReadOnlyDictionary<string, string> specialTokens)
    {
        ArgumentNullException.ThrowIfNull(specialTokens);
        var configPath = Path.Combine(checkpointDirectory, "tokenizer_config.json");
        using var config = File.Exists(configPath) ? JsonDocument.Parse(File.ReadAllText(configPath)) : null;
        var jinjaPath = Path.Combine(checkpointDirectory, "chat_template.jinja");
        var (text, source) = File.Exists(jinjaPath)
            ? (File.ReadAllText(jinjaPath), jinjaPath)
            : (TemplateInConfig(config?.RootElement, "default"), configPath);
        if (text is null)
        {
            return null;
        }
        var toolText = File.Exists(jinjaPath) ? null : TemplateInConfig(config?.RootElement, "tool_use", namedOnly: true);
        try
        {
            return new ChatFormat(ChatTemplate.Parse(text), toolText is null ? null : ChatTemplate.Parse(toolText),
                specialTokens.ToDictionary(t => t.Key, t => (object?)t.Value), source);
        }
        catch (ChatTemplateException e)
        {
            throw new InvalidOperationException($"The chat template in {source} cannot be used: {e.Message}", e);
        }
    }

    /// <summary>
    /// The prompt for <paramref name="messages"/>, ending with the assistant's generation prompt; with
    /// <paramref name="tools"/> (OpenAI's tool objects), the "tool_use" template where the checkpoint has one, given
    /// them as <c>tools</c>.
    /// </summary>
    /// <exception cref="ChatTemplateException">The template refused the conversation (raise_exception) or failed on it.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, IReadOnlyList<Dictionary<string, object?>>? tools = null)
    {
        if (tools is null)
        {
            return Template.Render(messages, addGenerationPrompt: true, _specialTokens);
        }
        var extra = new Dictionary<string, object?>(_specialTokens) { ["tools"] = tools };
        return (_toolTemplate ?? Template).Render(messages, addGenerationPrompt: true, extra);
    }

    /// <param name="name">Which of a list of named templates.</param>
    /// <param name="namedOnly">Only from a list of named templates (a single template has no "tool_use" one).</param>
    private static string? TemplateInConfig(JsonElement? config, string name, bool namedOnly = false)
    {
        if (config is not { ValueKind: JsonValueKind.Object } root || !root.TryGetProperty("chat_template", out var template))
        {
            return null;
        }
        return template.ValueKind switch
        {
            JsonValueKind.String when !namedOnly => template.GetString(),
            // [{ "name": "default", "template": "..." }, { "name": "tool_use", ... }]
            JsonValueKind.Array => template.EnumerateArray()
                .Where(t => t.TryGetProperty("name", out var given) && given.GetString() == name)
                .Select(t => t.GetProperty("template").GetString()).FirstOrDefault(),
            _ => null,
        };
    }
}
