using static Cluster.ChatTemplates.Tests.Rendered;

namespace Cluster.ChatTemplates.Tests;

/// <summary>The Jinja subset piece by piece, each against what Jinja (as transformers configures it) renders.</summary>
public sealed class LanguageTests
{
    private static readonly ChatMessage[] TwoUsers = [Sys("s"), User("a"), Assistant("b"), User("c")];

    [Theory]
    [InlineData("a  {%- if true -%}  b  {%- endif -%}  c", "abc")] // '-' strips all whitespace, newlines too
    [InlineData("x {{- ' y ' -}} z", "x y z")]
    [InlineData("{% if true %}\nyes\n{% endif %}\nafter", "yes\nafter")] // trim_blocks: the newline after %} goes
    [InlineData("line\n    {% if true %}\n    x\n    {% endif %}\nend", "line\n    x\nend")] // lstrip_blocks
    [InlineData("{{ 'a' }}\n  {{ 'b' }}", "a\n  b")] // neither applies to {{ }}
    [InlineData("  {%+ if true %}x{% endif %}", "  x")] // {%+ keeps the indentation
    [InlineData("{% if true +%}\nx{% endif %}", "\nx")] // +%} keeps the newline
    [InlineData("a\n  {# a comment #}\nb", "a\nb")] // comments take part in both
    [InlineData("text {% if true %}x{% endif %}", "text x")] // lstrip only when the tag starts its line
    [InlineData("x\n", "x")] // keep_trailing_newline=False drops one final newline
    [InlineData("x\n\n", "x\n")]
    [InlineData("a\r\nb", "a\nb")]
    public void WhitespaceControl(string source, string expected) =>
        Equal(expected, Render(source, [], false), $"template {Visible(source)}");

    [Fact]
    public void LoopVariables()
    {
        Equal("1 0 True False 3 3|2 1 False False 3 2|3 2 False True 3 1|",
            Render("{% for x in ['a','b','c'] %}{{ loop.index }} {{ loop.index0 }} {{ loop.first }} {{ loop.last }} {{ loop.length }} {{ loop.revindex }}|{% endfor %}", [], false),
            "loop.index, index0, first, last, length, revindex");
        Equal("2/2 4/2 ", Render("{% for x in [1,2,3,4] if x is even %}{{ x }}/{{ loop.length }} {% else %}none{% endfor %}", [], false),
            "a loop filter applies before loop.length is counted");
        Equal("empty", Render("{% for x in [] %}x{% else %}empty{% endfor %}", [], false), "for-else runs on no items");
        Equal("a=1;b=2;", Render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", [], false), "unpacking dict items");
        Equal("13", Render("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}", [], false),
            "break and continue");
        Equal("ab|ba|", Render("{% for x in ['a', 'b'] %}{{ loop.cycle('a', 'b') }}{{ loop.cycle('b', 'a') }}|{% endfor %}", [], false), "loop.cycle");
    }

    [Fact]
    public void NamespaceCarriesStateOutOfALoop_PlainSetDoesNot()
    {
        Equal("True 2 1", Render("{% set ns = namespace(found=false, n=0) %}{% set x = 1 %}{% for m in messages %}{% if m.role == 'user' %}"
            + "{% set ns.found = true %}{% set ns.n = ns.n + 1 %}{% set x = 2 %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.n }} {{ x }}", TwoUsers, false),
            "namespace attributes set in a loop are seen after it; a plain set is not");
        var e = Assert.Throws<ChatTemplateException>(() => Render("{% set d = {} %}{% set d.x = 1 %}", [], false));
        Assert.True(e.Reason.Contains("namespace") && e.Line == 1, $"got: {e.Message}");
    }

    [Fact]
    public void RaiseExceptionSurfacesTheTemplatesMessageAndLine()
    {
        var e = Assert.Throws<ChatTemplateException>(() =>
            Render("ok\n{% if messages | length > 1 %}\n  {{ raise_exception('Only one message, please: ' ~ messages | length) }}\n{% endif %}", TwoUsers, false));
        Assert.True(e.RaisedByTemplate && e.Reason == "Only one message, please: 4" && e.Line == 3,
            $"expected the template's message on line 3, got \"{e.Message}\" (raised by template: {e.RaisedByTemplate})");
    }

    [Fact]
    public void MacrosAndSetBlocks()
    {
        Equal("Hi Bob! Hi Al?", Render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bob') }} {{ greet('Al', punct='?') }}", [], false), "macro with default");
        Equal("[x]", Render("{% set block %}x{% endset %}[{{ block }}]", [], false), "set block");
        Equal("body", Render("{% generation %}body{% endgeneration %}", [], false), "transformers' generation block renders its body");
    }

    [Theory]
    [InlineData("{{ foo }}|{{ foo.bar }}|{{ foo is defined }}|{{ messages[9] is defined }}|{{ foo | length }}", "||False|False|0")]
    [InlineData("{{ [1,2,3][1:] }} {{ 'abc'[::-1] }} {{ [1,2,3][-1] }} {{ messages[1:][0].content }} {{ [1,2,3,4][::2] }}", "[2, 3] cba 3 a [1, 3]")]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 3 }} {{ 'a' ~ 1 }} {{ 1 + 1.0 }} {{ 'a' + 'b' }} {{ 'ab' * 2 }}", "3 -4 2 3.5 8 a1 2.0 ab abab")]
    [InlineData("{{ 1 < 2 < 3 }} {{ 'a' in 'cat' }} {{ 'x' not in ['y'] }} {{ 'role' in messages[0] }} {{ not none }} {{ none }} {{ true and 'x' }} {{ '' or 'y' }}", "True True True True True None x y")]
    [InlineData("{{ 'y' if true else 'n' }}[{{ 'y' if false }}]{{ 1 if none is none }}", "y[]1")]
    [InlineData("{{ '  x  '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'Hello'.upper() }}|{{ 'a-b'.replace('-', '+') }}|{{ ' a  b '.split() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'hello world'.title() }}|{{ '{} and {}'.format(1, 'b') }}", "x|['a', 'b']|True|True|HELLO|a+b|['a', 'b']|axx|Hello World|1 and b")]
    [InlineData("{{ {'a': 1}.get('z', 'dflt') }} {{ {'a': 1}.get('a') }} {{ {'a': 1, 'b': 2}.keys() | list }} {{ {'a': 1}.values() | first }}", "dflt 1 ['a', 'b'] 1")]
    [InlineData("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|{{ messages | rejectattr('role', 'in', ['user', 'system']) | list | length }}", "a,c|1")]
    [InlineData("{{ ' x ' | trim }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}|{{ 'hello there' | title }}|{{ 'hELLO' | capitalize }}|{{ 'aXa' | replace('a', 'b') }}|{{ none | default('d') }}|{{ undefined_thing | d('d') }}|{{ '' | default('e', true) }}", "x|AB|ab|Hello There|Hello|bXb|None|d|e")]
    [InlineData("{{ [3, 1] | first }} {{ [3, 1] | last }} {{ 'abc' | list }} {{ 42 | string }} {{ '12' | int + 1 }} {{ 'x' | int }} {{ '1.5' | float }} {{ {'a': 1} | items }} {{ '<b>' | e }} {{ '<b>' | safe }}", "3 1 ['a', 'b', 'c'] 42 13 0 1.5 [['a', 1]] &lt;b&gt; <b>")]
    [InlineData("{{ 'a\\nb' | indent(2) }}|{{ [1, 2, 3] | sum }}|{{ [3, 1, 2] | max }}|{{ [1, 1, 2] | unique | list }}|{{ [1, 2] | reverse | list }}|{{ range(3) | list }}", "a\n  b|6|3|[1, 2]|[2, 1]|[0, 1, 2]")]
    [InlineData("{{ 'x' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 'a' is sequence }} {{ 1.5 is number }} {{ true is boolean }} {{ true is true }} {{ 0 is false }} {{ none is none }} {{ 3 is divisibleby 3 }} {{ 'a' is not none }}", "True True True True True True True False True True True")]
    [InlineData("{{ 1e16 }} {{ 0.0001 }} {{ 1e-05 }} {{ 2.50 }} {{ 100.0 }} {{ 1.0 / 3 }}", "1e+16 0.0001 1e-05 2.5 100.0 0.3333333333333333")]
    [InlineData("{{ \"it's\" }} {{ ['it\\'s', \"a\\\"b\"] }} {{ 'tab\\there' }}", "it's [\"it's\", 'a\"b'] tab\there")]
    public void Expressions(string source, string expected) =>
        Equal(expected, Render(source, TwoUsers, false), $"template {Visible(source)}");

    [Theory]
    [InlineData("{{ {'a': 'é\"\\n', 'b': [1, 2.5, none, true], 'c': {}} | tojson }}", "{\"a\": \"é\\\"\\n\", \"b\": [1, 2.5, null, true], \"c\": {}}")]
    [InlineData("{{ {'a': 'é'} | tojson(ensure_ascii=true) }}", "{\"a\": \"\\u00e9\"}")]
    [InlineData("{{ {'b': 1, 'a': [1, 2]} | tojson(indent=2, sort_keys=true) }}", "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": 1\n}")]
    [InlineData("{{ [1, {'a': 'b'}] | tojson(separators=(',', ':')) }}", "[1,{\"a\":\"b\"}]")]
    [InlineData("{{ '<tag> & \\'q\\'' | tojson }}", "\"<tag> & 'q'\"")] // no HTML escaping, unlike Jinja's own tojson
    public void ToJsonIsPythonsJsonDumps(string source, string expected) =>
        Equal(expected, Render(source, [], false), $"template {Visible(source)}");

    [Fact]
    public void StrftimeNowReadsTheGivenClock()
    {
        var prompt = ChatTemplate.Parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%-d %B, %A %H:%M:%S %p') }}")
            .Render([], false, null, new FixedClock(new DateTimeOffset(2025, 3, 5, 14, 7, 9, TimeSpan.Zero)));
        Equal("05 Mar 2025|5 March, Wednesday 14:07:09 PM", prompt, "strftime_now");
    }

    [Theory]
    [InlineData("{{ foo + 1 }}", "'foo' is undefined")]
    [InlineData("{{ 'a' + 1 }}", "unsupported operand types for +")]
    [InlineData("{{ messages.append(1) }}", "cannot be called")]
    [InlineData("{{ 1 / 0 }}", "division by zero")]
    [InlineData("{{ undefined_thing | tojson }}", "is undefined and cannot be written as JSON")]
    public void TypeErrorsFailAtRenderNamingTheProblem(string source, string expected)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Render(source, TwoUsers, false));
        Assert.True(e.Reason.Contains(expected, StringComparison.Ordinal) && e.Line == 1 && !e.RaisedByTemplate,
            $"expected \"{expected}\" on line 1, got \"{e.Message}\"");
    }

    [Fact]
    public void ExtraVariablesOfEveryKindReachTheTemplate()
    {
        var extra = new Dictionary<string, object?>
        {
            ["s"] = "x", ["i"] = 3, ["l"] = 4L, ["d"] = 0.5, ["b"] = true, ["n"] = null,
            ["list"] = new List<object?> { 1, "two" }, ["map"] = new Dictionary<string, object?> { ["k"] = "v" },
        };
        Equal("x 3 4 0.5 True None [1, 'two'] v", Render("{{ s }} {{ i }} {{ l }} {{ d }} {{ b }} {{ n }} {{ list }} {{ map.k }}", [], false, extra), "extra variables");
        Assert.Throws<ArgumentException>(() => Render("x", [], false, new Dictionary<string, object?> { ["messages"] = "no" }));
    }
}
