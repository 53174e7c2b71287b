using System.CommandLine;
using Cluster.Contracts.Api;

namespace Cluster.Client;

/// <summary><c>count TEXT</c>: how many tokens a text costs (what Generate reports as prompt tokens).</summary>
public static class CountCommand
{
    public static Command Create()
    {
        var text = new Argument<string>("text") { Description = "Text to count" };
        var model = ModelOption.Create();
        var noBos = new Option<bool>("--no-bos") { Description = "Do not count the model's BOS token" };
        var command = new Command("count", "Count a text's tokens") { text, model, noBos };
        command.SetAction((parse, cancellation) => GatewayConnection.RunAsync(parse, async (client, output) =>
        {
            var request = new CountTokensRequest { Model = parse.GetValue(model)!, Text = parse.GetValue(text)! };
            if (parse.GetValue(noBos))
            {
                request.AddSpecialTokens = false;
            }

            CountTokensResponse response = await client.CountTokensAsync(request, cancellationToken: cancellation);
            await output.WriteLineAsync(response.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return 0;
        }));
        return command;
    }
}
