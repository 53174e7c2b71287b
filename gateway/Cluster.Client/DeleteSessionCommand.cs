using System.CommandLine;
using Cluster.Contracts.Api;

namespace Cluster.Client;

/// <summary><c>delete-session ID</c>: ends a conversation and frees its KV cache on every stage.</summary>
public static class DeleteSessionCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("id") { Description = "Session id (from --new-session)" };
        var command = new Command("delete-session", "End a session and free its KV cache") { id };
        command.SetAction((parse, cancellation) => GatewayConnection.RunAsync(parse, async (client, output) =>
        {
            string sessionId = parse.GetValue(id)!;
            await client.DeleteSessionAsync(new DeleteSessionRequest { SessionId = sessionId }, cancellationToken: cancellation);
            await output.WriteLineAsync($"Deleted session {sessionId}");
            return 0;
        }));
        return command;
    }
}
