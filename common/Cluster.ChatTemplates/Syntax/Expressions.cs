using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Syntax;

/// <summary>An expression; Line and Column point at its first token, for render-time errors.</summary>
internal abstract record Expression(int Line, int Column);

internal sealed record LiteralExpression(Value Value, int Line, int Column) : Expression(Line, Column);

internal sealed record NameExpression(string Name, int Line, int Column) : Expression(Line, Column);

/// <summary><c>target.name</c>: an attribute, a method, or (on a dict) the key of that name.</summary>
internal sealed record AttributeExpression(Expression Target, string Name, int Line, int Column) : Expression(Line, Column);

/// <summary><c>target[index]</c>.</summary>
internal sealed record ItemExpression(Expression Target, Expression Index, int Line, int Column) : Expression(Line, Column);

/// <summary><c>target[start:stop:step]</c>, any part optional, Python's slice semantics.</summary>
internal sealed record SliceExpression(Expression Target, Expression? Start, Expression? Stop, Expression? Step, int Line, int Column)
    : Expression(Line, Column);

internal sealed record CallExpression(Expression Callee, IReadOnlyList<Expression> Arguments,
    IReadOnlyList<(string Name, Expression Value)> NamedArguments, int Line, int Column) : Expression(Line, Column);

/// <summary><c>target | name(arguments)</c>; the name was checked against the known filters at parse time.</summary>
internal sealed record FilterExpression(Expression Target, string Name, IReadOnlyList<Expression> Arguments,
    IReadOnlyList<(string Name, Expression Value)> NamedArguments, int Line, int Column) : Expression(Line, Column);

/// <summary><c>target is [not] name(arguments)</c>; the name was checked against the known tests at parse time.</summary>
internal sealed record TestExpression(Expression Target, string Name, IReadOnlyList<Expression> Arguments, bool Negated,
    int Line, int Column) : Expression(Line, Column);

/// <summary>Arithmetic, <c>~</c>, comparisons, <c>in</c>/<c>not in</c>, <c>and</c>/<c>or</c> (short-circuiting, returning an operand as Python does).</summary>
internal sealed record BinaryExpression(string Operator, Expression Left, Expression Right, int Line, int Column) : Expression(Line, Column);

/// <summary><c>not x</c>, <c>-x</c>, <c>+x</c>.</summary>
internal sealed record UnaryExpression(string Operator, Expression Operand, int Line, int Column) : Expression(Line, Column);

/// <summary><c>then if condition else otherwise</c>; without else, undefined when the condition is false.</summary>
internal sealed record ConditionalExpression(Expression Condition, Expression Then, Expression? Otherwise, int Line, int Column)
    : Expression(Line, Column);

/// <summary><c>[a, b]</c> or a tuple <c>(a, b)</c> (tuples are lists here: both are immutable sequences).</summary>
internal sealed record ListExpression(IReadOnlyList<Expression> Items, int Line, int Column) : Expression(Line, Column);

internal sealed record DictExpression(IReadOnlyList<(Expression Key, Expression Value)> Entries, int Line, int Column) : Expression(Line, Column);
