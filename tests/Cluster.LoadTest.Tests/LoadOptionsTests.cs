using System.CommandLine;

namespace Cluster.LoadTest.Tests;

public sealed class LoadOptionsTests
{
    private static (ParseResult Parse, LoadOptions Options) Parse(string arguments)
    {
        var options = new LoadOptions();
        var command = new Command("gateway");
        options.AddTo(command);
        return (command.Parse(arguments), options);
    }

    [Fact]
    public void Options_left_out_take_their_defaults_without_errors_and_a_conversation_option_reaches_the_settings()
    {
        var (plain, options) = Parse("--shared-prefixes 4 --shared-prefix-tokens 192 --prompt-tokens 32");
        Assert.True(plain.Errors.Count == 0, $"errors: {string.Join("; ", plain.Errors.Select(e => e.Message))}");
        Assert.Equal(1, options.Read(plain, vocabularySize: 1000).ConversationTurns);

        var (turns, again) = Parse("--conversation-turns 4");
        Assert.True(turns.Errors.Count == 0, $"errors: {string.Join("; ", turns.Errors.Select(e => e.Message))}");
        Assert.Equal(4, again.Read(turns, vocabularySize: 1000).ConversationTurns);
    }

    [Fact]
    public void Fewer_than_one_conversation_turn_is_an_error_naming_the_option()
    {
        var (parse, _) = Parse("--conversation-turns 0");
        Assert.Contains(parse.Errors, e => e.Message.Contains("--conversation-turns must be at least 1", StringComparison.Ordinal));
    }

    [Fact]
    public void An_option_given_twice_is_a_parse_error_not_a_crash()
    {
        var (parse, _) = Parse("--requests 24 --requests 32");
        Assert.True(parse.Errors.Count > 0, "--requests given twice parsed without errors");
    }
}
