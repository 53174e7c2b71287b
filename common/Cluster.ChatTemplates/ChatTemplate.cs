using Cluster.ChatTemplates.Rendering;
using Cluster.ChatTemplates.Syntax;
using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates;

/// <summary>
/// A Hugging Face chat template (tokenizer_config.json's <c>chat_template</c>, or <c>chat_template.jinja</c>),
/// parsed once and rendered per request the way transformers' <c>apply_chat_template</c> does: Jinja with
/// trim_blocks and lstrip_blocks, <c>messages</c>, <c>add_generation_prompt</c>, the special tokens and other
/// variables from <c>extra</c>, and the <c>raise_exception</c> and <c>strftime_now</c> functions.
/// Parsing refuses what this subset of Jinja does not implement, naming the construct and its line, so that a
/// model whose template we cannot render fails at load rather than being prompted wrongly.
/// Immutable after parsing: one instance may render on many threads at once.
/// </summary>
public sealed class ChatTemplate
{
    private readonly IReadOnlyList<Statement> _body;

    private ChatTemplate(string source, IReadOnlyList<Statement> body)
    {
        Source = source;
        _body = body;
    }

    /// <summary>The template text as given.</summary>
    public string Source { get; }

    /// <exception cref="ChatTemplateException">The template has a syntax error or a construct this library does not support.</exception>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChatTemplate(source, Parser.Parse(source, Filters.IsKnown, Tests.IsKnown));
    }

    /// <summary>
    /// Renders the prompt. <paramref name="extra"/> holds bos_token, eos_token and any other variable the template reads
    /// (tools, date_string, enable_thinking…): strings, numbers, booleans, null, lists and string-keyed dictionaries.
    /// <paramref name="clock"/> is what <c>strftime_now</c> reads (the system clock when null).
    /// </summary>
    /// <exception cref="ChatTemplateException">The template raised (<see cref="ChatTemplateException.RaisedByTemplate"/>) or failed on a value.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt,
        IReadOnlyDictionary<string, object?>? extra = null, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var scope = new Scope(null);
        Globals.Define(scope, clock ?? TimeProvider.System);
        foreach (var (name, value) in extra ?? new Dictionary<string, object?>())
        {
            if (name is "messages" or "add_generation_prompt")
                throw new ArgumentException($"'{name}' is set by Render's own parameters, not by extra", nameof(extra));
            scope.Set(name, ValueConversion.FromObject(value, name));
        }
        scope.Set("messages", new ListValue(messages.Select(m => (Value)ValueConversion.Message(m)).ToList()));
        scope.Set("add_generation_prompt", BoolValue.Of(addGenerationPrompt));
        return new Renderer(new Evaluator()).Render(_body, new Scope(scope));
    }
}
