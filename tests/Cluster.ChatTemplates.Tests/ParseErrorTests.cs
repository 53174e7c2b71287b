namespace Cluster.ChatTemplates.Tests;

/// <summary>Syntax this library does not support, or gets wrong, fails at Parse with the construct and its line and column.</summary>
public sealed class ParseErrorTests
{
    [Theory]
    [InlineData("hello\n{% include 'other.jinja' %}", "unsupported statement '{% include %}'", 2, 1)]
    [InlineData("{% extends 'base.jinja' %}", "unsupported statement '{% extends %}'", 1, 1)]
    [InlineData("{% import 'm.jinja' as m %}", "unsupported statement '{% import %}'", 1, 1)]
    [InlineData("{% for m in messages %}\n  {% call foo() %}x{% endcall %}\n{% endfor %}", "unsupported statement '{% call %}'", 2, 3)]
    [InlineData("a\nb\n{{ messages | frobnicate }}", "unknown filter 'frobnicate'", 3, 15)]
    [InlineData("{% if x is palindrome %}{% endif %}", "unknown test 'palindrome'", 1, 12)]
    [InlineData("{% raw %}{{ x }}{% endraw %}", "unsupported statement '{% raw %}'", 1, 1)]
    [InlineData("line one\n{% for m in messages %}{{ m }}", "'{% for %}' is never closed", 2, 4)]
    [InlineData("{% if true %}x{% endfor %}", "unknown or misplaced statement '{% endfor %}'", 1, 15)]
    [InlineData("{{ 'abc }}", "unterminated string literal", 1, 4)]
    [InlineData("{{ x }", "unclosed tag '{{'", 1, 1)]
    [InlineData("{% for m in messages recursive %}{% endfor %}", "unsupported loop modifier 'recursive'", 1, 22)]
    [InlineData("{{ f(*args) }}", "unsupported: '*args'", 1, 6)]
    public void UnsupportedOrBrokenSyntaxFailsAtParseWithItsPosition(string source, string expected, int line, int column)
    {
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(source));
        Assert.True(e.Reason.Contains(expected, StringComparison.Ordinal) && e.Line == line && e.Column == column,
            $"expected \"{expected}\" at {line}:{column}, got \"{e.Message}\" at {e.Line}:{e.Column}");
        Assert.Contains($"line {line}", e.Message);
    }
}
