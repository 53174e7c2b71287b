using Cluster.Contracts.Api;

namespace Cluster.Gateway.Requests;

/// <summary>
/// An answer to a request that offered tools, as the OpenAI doors show it: which of its text may stream while it is
/// written (with tool_choice auto, what surely is not a call; with a required call, none: the call streams through
/// <see cref="Required"/> instead), the calls once it has ended (only the first with parallel_tool_calls false; a
/// required call with the id its stream used, or as far as it was written), and the text beside them. One home for
/// chat's tool_calls deltas and the Responses API's function_call items; each door keeps the text and writes its JSON.
/// </summary>
internal sealed class ToolAnswer(bool modelDecides, bool oneCall)
{
    /// <summary>With tool_choice required or a named function: the call as it is written.</summary>
    public RequiredCallStream? Required { get; } = modelDecides ? null : new RequiredCallStream();

    /// <summary>The calls, once the answer has ended.</summary>
    public List<ToolCall> Calls { get; } = [];

    /// <summary>Characters of the answer's text streamed while it was written.</summary>
    public int Streamed { get; private set; }

    /// <summary>
    /// Reads the answer so far, <paramref name="text"/>, which ends with <paramref name="message"/>'s text; at the
    /// answer's end keeps its calls. Returns what the required call's stream read (the name became known, arguments).
    /// </summary>
    public (bool Began, string Piece) Read(string text, GenerateResponse message)
    {
        var read = Required?.Read(text) ?? (false, "");
        if (message.FinishReason != FinishReason.Unspecified)
        {
            Calls.AddRange(message.ToolCalls.Take(oneCall ? 1 : int.MaxValue));
            if (Required?.WrittenCall(Calls) is { } written)
            {
                Calls.Clear();
                Calls.Add(written);
            }
        }
        return read;
    }

    /// <summary>While the answer is written: the text that may stream now and has not (empty when none).</summary>
    public string TakeSurelyText(string text)
    {
        var surely = Required is null ? ChatTools.SurelyText(text) : 0;
        if (surely <= Streamed)
        {
            return "";
        }
        var piece = text[Streamed..surely];
        Streamed = surely;
        return piece;
    }

    /// <summary>
    /// Once it has ended, the answer's text not streamed while it was written: the rest, or with calls what the rest
    /// says beside them; none when the answer is a required call.
    /// </summary>
    public string Rest(string text) =>
        Calls.Count == 0 ? text[Streamed..]
        : Required is not null ? ""
        : ChatTools.TextBesideCalls(text[Streamed..]);

    /// <summary>Once it has ended, the answer's text: what streamed while it was written, then <see cref="Rest"/>.</summary>
    public string Whole(string text) => text[..Streamed] + Rest(text);
}
