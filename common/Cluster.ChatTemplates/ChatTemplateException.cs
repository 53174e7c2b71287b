namespace Cluster.ChatTemplates;

/// <summary>
/// A template that cannot be parsed (an unsupported construct, a syntax error) or that failed while rendering
/// (<c>raise_exception</c>, a type error). <see cref="Line"/> and <see cref="Column"/> are 1-based positions in the
/// template source, 0 when unknown. Thrown instead of ever rendering a prompt we are not sure of.
/// </summary>
public sealed class ChatTemplateException : Exception
{
    public ChatTemplateException(string message, int line, int column, bool raisedByTemplate = false)
        : base(line > 0 ? $"{message} (template line {line}, column {column})" : message)
    {
        Reason = message;
        Line = line;
        Column = column;
        RaisedByTemplate = raisedByTemplate;
    }

    /// <summary>The message without the position: for <c>raise_exception('...')</c>, exactly the template's text.</summary>
    public string Reason { get; }

    public int Line { get; }

    public int Column { get; }

    /// <summary>True when the template itself called <c>raise_exception</c> (the conversation does not fit the model).</summary>
    public bool RaisedByTemplate { get; }
}
