using System.CommandLine;

namespace Cluster.Client.Tests;

/// <summary>
/// <c>--help</c>: a subcommand's usage line names the subcommand's own arguments, not the root's prompt (which only
/// generating takes); the root's help still shows the prompt.
/// </summary>
public sealed class HelpTests
{
    [Theory]
    [InlineData("tokenize", "<text>")]
    [InlineData("count", "<text>")]
    [InlineData("delete-session", "<id>")]
    [InlineData("models", "")]
    public void A_subcommands_usage_line_leaves_out_the_roots_prompt(string subcommand, string arguments)
    {
        RootCommand root = ClientCommands.Create();
        string usage = UsageLine(root, subcommand, "--help");

        string expected = string.Join(" ", new[] { root.Name, subcommand, arguments, "[options]" }.Where(p => p.Length > 0));
        Assert.True(usage == expected, $"Usage of '{subcommand} --help': \"{usage}\"; expected \"{expected}\".");
    }

    [Fact]
    public void The_roots_usage_still_shows_the_prompt_after_a_subcommands_help()
    {
        RootCommand root = ClientCommands.Create();
        UsageLine(root, "tokenize", "--help"); // hides the prompt while it writes; it must show again after

        string usage = UsageLine(root, "--help");

        Assert.True(usage == $"{root.Name} <prompt> [command] [options]", $"Root usage: \"{usage}\".");
    }

    /// <summary>The line under "Usage:" in the help the arguments print.</summary>
    private static string UsageLine(RootCommand root, params string[] args)
    {
        var output = new StringWriter();
        int exit = root.Parse(args).Invoke(new InvocationConfiguration { Output = output, Error = new StringWriter() });
        string[] lines = output.ToString().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        int at = Array.IndexOf(lines, "Usage:");
        Assert.True(exit == 0 && at >= 0 && at + 1 < lines.Length, $"'{string.Join(" ", args)}' exited {exit} and printed:\n{output}");
        return lines[at + 1].Trim();
    }
}
