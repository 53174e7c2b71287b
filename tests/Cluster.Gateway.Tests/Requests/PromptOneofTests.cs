using Cluster.Contracts.Api;
using Google.Protobuf;

namespace Cluster.Gateway.Tests.Requests;

/// <summary>
/// What generation.proto documents for a GenerateRequest carrying both prompt fields on the wire: no error, the one
/// parsed last wins (protobuf's oneof rule), whichever of text and token_ids it is.
/// </summary>
public sealed class PromptOneofTests
{
    [Fact]
    public void Text_then_token_ids_on_the_wire_parses_as_the_token_ids_and_the_reverse_as_the_text()
    {
        byte[] text = new GenerateRequest { Model = "m", Text = "hello" }.ToByteArray();
        byte[] ids = new GenerateRequest { TokenIds = new TokenIds { Ids = { 1, 2, 3 } } }.ToByteArray();

        var textThenIds = GenerateRequest.Parser.ParseFrom([.. text, .. ids]); // concatenated messages merge field by field
        var idsThenText = GenerateRequest.Parser.ParseFrom([.. ids, .. text]);

        Assert.True(textThenIds.PromptCase == GenerateRequest.PromptOneofCase.TokenIds && textThenIds.TokenIds.Ids.SequenceEqual([1, 2, 3]),
            $"text then token_ids parsed as {textThenIds.PromptCase}: {textThenIds}");
        Assert.True(idsThenText.PromptCase == GenerateRequest.PromptOneofCase.Text && idsThenText.Text == "hello",
            $"token_ids then text parsed as {idsThenText.PromptCase}: {idsThenText}");
    }
}
