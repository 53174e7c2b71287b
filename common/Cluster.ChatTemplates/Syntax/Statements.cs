namespace Cluster.ChatTemplates.Syntax;

/// <summary>A statement of the template body; Line and Column point at its tag, for render-time errors.</summary>
internal abstract record Statement(int Line, int Column);

/// <summary>Literal template text, already trimmed by whitespace control.</summary>
internal sealed record TextStatement(string Text, int Line, int Column) : Statement(Line, Column);

/// <summary><c>{{ expression }}</c>.</summary>
internal sealed record OutputStatement(Expression Value, int Line, int Column) : Statement(Line, Column);

/// <summary><c>{% if %}…{% elif %}…{% else %}…{% endif %}</c>: the first branch whose condition is true runs.</summary>
internal sealed record IfStatement(IReadOnlyList<(Expression Condition, IReadOnlyList<Statement> Body)> Branches,
    IReadOnlyList<Statement> Else, int Line, int Column) : Statement(Line, Column);

/// <summary>
/// <c>{% for a[, b] in items [if filter] %}…{% else %}…{% endfor %}</c>. The filter is applied before the loop
/// variables are computed, so <c>loop.length</c> and <c>loop.last</c> count only the items that pass, as in Jinja.
/// </summary>
internal sealed record ForStatement(IReadOnlyList<string> Targets, Expression Items, Expression? Filter,
    IReadOnlyList<Statement> Body, IReadOnlyList<Statement> Else, int Line, int Column) : Statement(Line, Column);

/// <summary><c>{% set name = value %}</c>, or <c>{% set ns.attribute = value %}</c> when <see cref="Attribute"/> is set.</summary>
internal sealed record SetStatement(string Name, string? Attribute, Expression Value, int Line, int Column) : Statement(Line, Column);

/// <summary><c>{% set name %}…{% endset %}</c>: the rendered body becomes the variable's string value.</summary>
internal sealed record SetBlockStatement(string Name, IReadOnlyList<Statement> Body, int Line, int Column) : Statement(Line, Column);

/// <summary><c>{% macro name(a, b=default) %}…{% endmacro %}</c>: defines a function that returns its rendered body.</summary>
internal sealed record MacroStatement(string Name, IReadOnlyList<(string Name, Expression? Default)> Parameters,
    IReadOnlyList<Statement> Body, int Line, int Column) : Statement(Line, Column);

/// <summary><c>{% break %}</c> and <c>{% continue %}</c> (transformers enables jinja2.ext.loopcontrols).</summary>
internal sealed record LoopControlStatement(bool IsBreak, int Line, int Column) : Statement(Line, Column);
