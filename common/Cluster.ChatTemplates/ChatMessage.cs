namespace Cluster.ChatTemplates;

/// <summary>
/// One turn of a conversation as a chat template sees it: <c>message.role</c>, <c>message.content</c>, and the other
/// keys a turn may have (<c>tool_calls</c> of an assistant turn, <c>tool_call_id</c> of a tool turn), as transformers
/// passes them: values the template can read (strings, numbers, booleans, null, lists, string-keyed dictionaries,
/// JSON elements).
/// </summary>
public sealed record ChatMessage(string Role, string Content, IReadOnlyDictionary<string, object?>? Fields = null);
