using System.Text.RegularExpressions;
using Cluster.Contracts.Api;

namespace Cluster.Gateway.Requests;

/// <summary>
/// A required (or named) tool call read while it is written, so a stream can send it as the peers do: the tool's
/// name once it is complete, then the arguments' text as far as it surely belongs to them. The sampler holds such an
/// answer to <c>{"name": "...", "arguments": ...}</c> (<see cref="ChatTools"/>' call schema, with JSON whitespace
/// between tokens), so the name ends at its closing quote and the arguments at the end of their JSON value; the
/// call object's own closing brace is never part of them.
/// </summary>
internal sealed partial class RequiredCallStream
{
    private int _given; // characters of Arguments already handed out

    /// <summary>The call's id, chosen when it begins so every piece of a stream and the finished call carry the same one.</summary>
    public string Id { get; } = ChatTools.NewCallId();

    /// <summary>The tool's name, once the answer has written it whole; null before.</summary>
    public string? Name { get; private set; }

    /// <summary>The arguments' text written so far (the whole value once it has ended).</summary>
    public string Arguments { get; private set; } = "";

    /// <summary>
    /// Reads the answer so far (the whole text, each time); returns whether the name became known with this read, and
    /// the arguments' text that became sure since the last read.
    /// </summary>
    public (bool Began, string Piece) Read(string answer)
    {
        var head = Head().Match(answer);
        if (!head.Success)
        {
            return (false, "");
        }
        var began = Name is null;
        Name = head.Groups[1].Value;
        var start = head.Index + head.Length;
        Arguments = answer[start..ValueEnd(answer, start)];
        var piece = Arguments[_given..];
        _given = Arguments.Length;
        return (began, piece);
    }

    /// <summary>
    /// The call as the client saw it stream, once the answer has ended: the finished call read from the answer
    /// (<paramref name="read"/>, its first) with this stream's id, or, when max tokens cut the answer short, the call
    /// with the arguments written so far; null when the answer never named the tool.
    /// </summary>
    public ToolCall? WrittenCall(IReadOnlyList<ToolCall> read) =>
        Name is null ? null
        : read.Count > 0 ? new ToolCall(read[0]) { Id = Id }
        : new ToolCall { Id = Id, Name = Name, ArgumentsJson = Arguments };

    /// <summary>Where the JSON value that starts at <paramref name="start"/> ends, or the text's end while it has not.</summary>
    private static int ValueEnd(string text, int start)
    {
        var depth = 0;
        var inString = false;
        var escaped = false;
        var scalar = false;
        for (var i = start; i < text.Length; i++)
        {
            var c = text[i];
            if (inString)
            {
                if (escaped)
                {
                    escaped = false;
                }
                else if (c == '\\')
                {
                    escaped = true;
                }
                else if (c == '"')
                {
                    inString = false;
                    if (depth == 0)
                    {
                        return i + 1;
                    }
                }
                continue;
            }
            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '{' or '[':
                    depth++;
                    break;
                case '}' or ']':
                    depth--;
                    if (depth <= 0)
                    {
                        return depth == 0 ? i + 1 : i; // below zero: a number's end at the call's own brace
                    }
                    break;
                case ' ' or '\t' or '\n' or '\r' or ',' when depth == 0 && scalar:
                    return i;
                default:
                    scalar |= depth == 0;
                    break;
            }
        }
        return text.Length;
    }

    /// <summary><c>{"name": "NAME", "arguments":</c> and the whitespace after it; the name is a tool's (letters, digits, '_' and '-').</summary>
    [GeneratedRegex(@"^\s*\{\s*""name""\s*:\s*""([A-Za-z0-9_-]+)""\s*,\s*""arguments""\s*:\s*")]
    private static partial Regex Head();
}
