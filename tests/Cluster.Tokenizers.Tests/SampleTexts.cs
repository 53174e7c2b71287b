namespace Cluster.Tokenizers.Tests;

/// <summary>Texts that break tokenizers in practice: multi-byte scripts, emoji sequences, whitespace runs.</summary>
internal static class SampleTexts
{
    public const string English = "Hello world! The quick brown fox jumps over the lazy dog.";
    public const string Korean = "오늘 날씨 어때?";
    public const string Emoji = "Nice 👍🏽 and a family: 👨‍👩‍👧‍👦!";
    public const string Code = "def f(x):\n\treturn  x  *  2\n\n    if x:\n\t\t  pass   \n";
    public const string LeadingSpaces = "  two leading spaces";
    public const string Mixed = "GPT-2 says 안녕 🙂 at 12:30 -- café, naïve, 日本語.\r\n\tdone";

    public static readonly string[] All = [English, Korean, Emoji, Code, LeadingSpaces, Mixed];
}
