using Cluster.ChatTemplates;

namespace Cluster.ChatTemplates.Tests;

/// <summary>Helpers that render and compare, printing both prompts with newlines made visible on a mismatch.</summary>
internal static class Rendered
{
    public static readonly Dictionary<string, object?> Tokens = new() { ["bos_token"] = "<s>", ["eos_token"] = "</s>" };

    public static string Render(string template, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt,
        IReadOnlyDictionary<string, object?>? extra = null) =>
        ChatTemplate.Parse(template).Render(messages, addGenerationPrompt, extra ?? Tokens);

    public static void Equal(string expected, string actual, string what)
    {
        if (expected == actual) return;
        var at = 0;
        while (at < Math.Min(expected.Length, actual.Length) && expected[at] == actual[at]) at++;
        Assert.Fail($"{what}: rendered prompt differs at character {at}\nexpected: {Visible(expected)}\nactual:   {Visible(actual)}");
    }

    public static string Visible(string s) => s.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\t", "\\t");

    public static ChatMessage Sys(string content) => new("system", content);
    public static ChatMessage User(string content) => new("user", content);
    public static ChatMessage Assistant(string content) => new("assistant", content);
}
