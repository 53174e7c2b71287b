using Cluster.Contracts.Api;
using Cluster.Gateway.Requests;

namespace Cluster.Gateway.Tests.Requests;

/// <summary>
/// A required call read while it is written: the name is known once its closing quote is written, the pieces of
/// arguments add up to exactly the arguments' JSON value (never the call object's closing brace, whitespace and
/// braces inside strings included), and the finished call keeps the stream's id, or, cut short, its partial arguments.
/// </summary>
public class RequiredCallStreamTests
{
    [Theory]
    [InlineData("""{"name": "get_weather", "arguments": {"unit": "celsius", "tomorrow": true}}""", """{"unit": "celsius", "tomorrow": true}""")]
    [InlineData("{\n  \"name\":\"f\",\n  \"arguments\" :\n\t{\"s\": \"a}\\\"]{\", \"n\": [1, {\"x\": null}]}\n}", "{\"s\": \"a}\\\"]{\", \"n\": [1, {\"x\": null}]}")]
    [InlineData("""{"name":"f","arguments":{}}""", "{}")]
    [InlineData("""{"name": "f", "arguments": 12.5e3 }""", "12.5e3")]
    [InlineData("""{"name": "f", "arguments": -7}""", "-7")]
    [InlineData("""{"name": "f", "arguments": "text, with } inside"}""", "\"text, with } inside\"")]
    public void ThePiecesAddUpToTheArgumentsValue_WhateverTheTokensAre(string answer, string arguments)
    {
        foreach (var size in new[] { 1, 2, 3, 7, answer.Length })
        {
            var stream = new RequiredCallStream();
            var pieces = new List<string>();
            var began = 0;
            for (var end = size; ; end = Math.Min(end + size, answer.Length))
            {
                var (opened, piece) = stream.Read(answer[..end]);
                began += opened ? 1 : 0;
                pieces.Add(piece);
                Assert.True(arguments.StartsWith(string.Concat(pieces), StringComparison.Ordinal),
                    $"after '{answer[..end]}' (pieces of {size}) the arguments so far are '{string.Concat(pieces)}', not a beginning of '{arguments}'");
                if (end == answer.Length)
                {
                    break;
                }
            }
            Assert.True(began == 1 && string.Concat(pieces) == arguments && stream.Arguments == arguments,
                $"pieces of {size}: began {began} times, arguments '{string.Concat(pieces)}', expected '{arguments}'");
        }
    }

    [Fact]
    public void TheNameIsKnownOnlyOnceItIsWrittenWhole()
    {
        var stream = new RequiredCallStream();
        Assert.Equal((false, ""), stream.Read("""{"name": "get_wea"""));
        Assert.Null(stream.Name);
        Assert.Equal((false, ""), stream.Read("""{"name": "get_weather", "argu"""));
        Assert.Equal((true, ""), stream.Read("""{"name": "get_weather", "arguments": """));
        Assert.Equal("get_weather", stream.Name);
        Assert.Equal((false, "{\"u"), stream.Read("""{"name": "get_weather", "arguments": {"u"""));
    }

    [Fact]
    public void TheWrittenCallKeepsTheStreamsId_OrItsPartialArgumentsWhenCutShort()
    {
        var stream = new RequiredCallStream();
        Assert.Null(stream.WrittenCall([]));
        stream.Read("""{"name": "f", "arguments": {"a": 1}}""");
        var read = new ToolCall { Id = "call_other", Name = "f", ArgumentsJson = """{"a": 1}""" };
        Assert.Equal(new ToolCall { Id = stream.Id, Name = "f", ArgumentsJson = """{"a": 1}""" }, stream.WrittenCall([read]));

        var cut = new RequiredCallStream();
        cut.Read("""{"name": "f", "arguments": {"a": [1, 2""");
        Assert.Equal(new ToolCall { Id = cut.Id, Name = "f", ArgumentsJson = """{"a": [1, 2""" }, cut.WrittenCall([]));
    }
}
