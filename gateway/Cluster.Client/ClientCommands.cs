using System.CommandLine;

namespace Cluster.Client;

/// <summary>
/// The command line: the root command generates (<c>cluster-client "prompt"</c>); subcommands tokenize, count,
/// inspect, list models and delete sessions. Every command takes <c>--address</c> and <c>--api-key</c>.
/// </summary>
public static class ClientCommands
{
    public static RootCommand Create() => Create(new GenerateCommand());

    /// <summary>The root command with <paramref name="generate"/>'s prompt and options on it.</summary>
    public static RootCommand Create(GenerateCommand generate)
    {
        ArgumentNullException.ThrowIfNull(generate);
        var root = new RootCommand("Client of the inference cluster's gRPC API. Without a subcommand: generate a continuation of PROMPT and stream it.");
        root.Options.Add(GatewayConnection.Address);
        root.Options.Add(GatewayConnection.ApiKey);
        generate.AddTo(root);
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(CountCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(DeleteSessionCommand.Create());
        SubcommandHelpAction.Install(root);
        return root;
    }
}
