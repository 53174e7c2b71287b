using System.CommandLine;
using Cluster.Contracts.Api;

namespace Cluster.Client;

/// <summary><c>tokenize TEXT</c>: the model's token ids for a text, with each token's piece.</summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var text = new Argument<string>("text") { Description = "Text to tokenize" };
        var model = ModelOption.Create();
        var noBos = new Option<bool>("--no-bos") { Description = "Do not add the model's BOS token" };
        var command = new Command("tokenize", "Show how a model's tokenizer splits a text") { text, model, noBos };
        command.SetAction((parse, cancellation) => GatewayConnection.RunAsync(parse, async (client, output) =>
        {
            var request = new TokenizeRequest { Model = parse.GetValue(model)!, Text = parse.GetValue(text)! };
            if (parse.GetValue(noBos))
            {
                request.AddSpecialTokens = false;
            }

            TokenizeResponse response = await client.TokenizeAsync(request, cancellationToken: cancellation);
            await output.WriteLineAsync($"{response.Tokens.Count} tokens");
            foreach (Token token in response.Tokens)
            {
                await output.WriteLineAsync($"{token.Id,8}  {Show.Piece(token.Piece)}{(token.Special ? "  (special)" : "")}");
            }

            return 0;
        }));
        return command;
    }
}
