using Cluster.Contracts.Api;
using Cluster.Gateway.Requests;

namespace Cluster.Gateway.Tests.Requests;

/// <summary>
/// What of an answer is text and what calls, for both OpenAI doors: with tool_choice auto the text streams up to
/// where a call could begin, the rest beside the calls goes at the end, and the whole answer is what streamed and then
/// that rest, however often it is asked; a required call streams no text and keeps its stream's id.
/// </summary>
public class ToolAnswerTests
{
    private static readonly ToolCall Weather = new() { Id = "call_read", Name = "get_weather", ArgumentsJson = "{}" };

    [Fact]
    public void WithAutoTheTextStreamsUpToACall_AndTheTextAfterItGoesAtTheEnd()
    {
        var answer = new ToolAnswer(modelDecides: true, oneCall: false);
        var text = "";
        var streamed = "";
        foreach (var piece in (string[])["Hi ", "<tool_", "call>{\"name\": \"get_weather\"}</tool_call>", " done"])
        {
            text += piece;
            answer.Read(text, new GenerateResponse { Text = piece });
            streamed += answer.TakeSurelyText(text);
        }
        answer.Read(text, new GenerateResponse { FinishReason = FinishReason.ToolCalls, ToolCalls = { Weather } });

        Assert.Equal("Hi ", streamed);
        Assert.Equal("done", answer.Rest(text));
        Assert.Equal("Hi done", answer.Whole(text));
        Assert.Equal("Hi done", answer.Whole(text)); // asking again (the stored turn, the final object) gives the same
        Assert.Equal([Weather], answer.Calls);
    }

    [Fact]
    public void ARequiredCallStreamsNoText_AndKeepsItsStreamsId_AndParallelFalseKeepsOneCall()
    {
        var answer = new ToolAnswer(modelDecides: false, oneCall: true);
        const string text = """{"name": "get_weather", "arguments": {}}""";
        var (began, piece) = answer.Read(text, new GenerateResponse { Text = text, FinishReason = FinishReason.ToolCalls, ToolCalls = { Weather, Weather } });

        Assert.True(began && piece == "{}", $"began {began}, arguments '{piece}'");
        Assert.Equal("", answer.TakeSurelyText(text));
        Assert.Equal("", answer.Whole(text));
        var call = Assert.Single(answer.Calls);
        Assert.Equal(answer.Required!.Id, call.Id);
    }
}
