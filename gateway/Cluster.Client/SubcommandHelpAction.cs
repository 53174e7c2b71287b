using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace Cluster.Client;

/// <summary>
/// The help of a subcommand without the root's positional argument. System.CommandLine 2.0 writes a subcommand's
/// usage with every parent's arguments (<c>cluster-client &lt;prompt&gt; tokenize &lt;text&gt;</c>), which is right for
/// parents whose arguments come before the subcommand and wrong here: the root's prompt belongs to generating, not
/// to the subcommands. Its help builder is internal, so this hides the root's arguments while a subcommand's help is
/// written (hidden arguments are left out of usage lines) and shows them again after.
/// </summary>
internal sealed class SubcommandHelpAction(SynchronousCommandLineAction help, RootCommand root) : SynchronousCommandLineAction
{
    public override bool ClearsParseErrors => true; // as the built-in help: "sub --help" with errors still shows help

    /// <summary>Replaces <paramref name="root"/>'s help option's action with this one.</summary>
    public static void Install(RootCommand root)
    {
        HelpOption option = root.Options.OfType<HelpOption>().Single();
        option.Action = new SubcommandHelpAction((SynchronousCommandLineAction)option.Action!, root);
    }

    public override int Invoke(ParseResult parseResult)
    {
        if (parseResult.CommandResult.Command == root)
        {
            return help.Invoke(parseResult);
        }
        List<Argument> shown = [.. root.Arguments.Where(a => !a.Hidden)];
        shown.ForEach(a => a.Hidden = true);
        try
        {
            return help.Invoke(parseResult);
        }
        finally
        {
            shown.ForEach(a => a.Hidden = false);
        }
    }
}
