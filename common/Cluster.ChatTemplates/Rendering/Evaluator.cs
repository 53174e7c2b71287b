using Cluster.ChatTemplates.Syntax;
using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Rendering;

/// <summary>
/// Evaluates expressions. A failure inside (a type error, an undefined value used in arithmetic, raise_exception)
/// becomes a <see cref="ChatTemplateException"/> at the innermost expression's position.
/// </summary>
internal sealed class Evaluator
{
    public Value Evaluate(Expression expression, Scope scope)
    {
        try
        {
            return EvaluateCore(expression, scope);
        }
        catch (TemplateRuntimeError e)
        {
            throw new ChatTemplateException(e.Message, expression.Line, expression.Column, e.RaisedByTemplate);
        }
    }

    private Value EvaluateCore(Expression expression, Scope scope)
    {
        switch (expression)
        {
            case LiteralExpression l:
                return l.Value;
            case NameExpression n:
                return scope.Lookup(n.Name);
            case AttributeExpression a:
                return Members.GetAttribute(Evaluate(a.Target, scope), a.Name, Path(a));
            case ItemExpression i:
                return Members.GetItem(Evaluate(i.Target, scope), Evaluate(i.Index, scope), Path(i));
            case SliceExpression s:
                return Members.Slice(Evaluate(s.Target, scope), Optional(s.Start, scope), Optional(s.Stop, scope), Optional(s.Step, scope));
            case CallExpression c:
                return Call(c, scope);
            case FilterExpression f:
                return Filters.Apply(f.Name, Evaluate(f.Target, scope), EvaluateArguments($"filter '{f.Name}'", f.Arguments, f.NamedArguments, scope));
            case TestExpression t:
                var passed = Tests.Apply(t.Name, Evaluate(t.Target, scope), t.Arguments.Select(a => Evaluate(a, scope)).ToList());
                return BoolValue.Of(passed != t.Negated);
            case BinaryExpression b:
                return Binary(b, scope);
            case UnaryExpression u:
                var operand = Evaluate(u.Operand, scope);
                return u.Operator switch
                {
                    "not" => BoolValue.Of(!operand.IsTrue),
                    "-" => ValueOperations.Arithmetic("-", new IntValue(0), operand),
                    _ => ValueOperations.TryNumber(operand, out _, out _) ? operand
                        : throw new TemplateRuntimeError($"bad operand for unary +: {ValueOperations.Describe(operand)}"),
                };
            case ConditionalExpression c:
                return Evaluate(c.Condition, scope).IsTrue ? Evaluate(c.Then, scope)
                    : c.Otherwise is null ? new UndefinedValue("(conditional without else)") : Evaluate(c.Otherwise, scope);
            case ListExpression l:
                return new ListValue(l.Items.Select(i => Evaluate(i, scope)).ToList());
            case DictExpression d:
                var entries = new OrderedDictionary<string, Value>();
                foreach (var (key, value) in d.Entries)
                {
                    if (Evaluate(key, scope) is not StringValue k)
                        throw new TemplateRuntimeError("dict literal keys must be strings here");
                    entries[k.Text] = Evaluate(value, scope);
                }
                return new DictValue(entries);
            default:
                throw new InvalidOperationException($"unknown expression {expression.GetType().Name}");
        }
    }

    private Value? Optional(Expression? expression, Scope scope) => expression is null ? null : Evaluate(expression, scope);

    private Value Binary(BinaryExpression b, Scope scope)
    {
        // and/or short-circuit and return an operand, as in Python: {{ x or 'default' }}.
        if (b.Operator == "and")
        {
            var left = Evaluate(b.Left, scope);
            return left.IsTrue ? Evaluate(b.Right, scope) : left;
        }
        if (b.Operator == "or")
        {
            var left = Evaluate(b.Left, scope);
            return left.IsTrue ? left : Evaluate(b.Right, scope);
        }
        var l = Evaluate(b.Left, scope);
        var r = Evaluate(b.Right, scope);
        return b.Operator switch
        {
            "==" => BoolValue.Of(ValueOperations.AreEqual(l, r)),
            "!=" => BoolValue.Of(!ValueOperations.AreEqual(l, r)),
            "<" => BoolValue.Of(ValueOperations.Compare(l, r, "<") < 0),
            ">" => BoolValue.Of(ValueOperations.Compare(l, r, ">") > 0),
            "<=" => BoolValue.Of(ValueOperations.Compare(l, r, "<=") <= 0),
            ">=" => BoolValue.Of(ValueOperations.Compare(l, r, ">=") >= 0),
            "in" => BoolValue.Of(ValueOperations.Contains(r, l)),
            "not in" => BoolValue.Of(!ValueOperations.Contains(r, l)),
            "~" => new StringValue(l.ToText() + r.ToText()),
            _ => ValueOperations.Arithmetic(b.Operator, l, r),
        };
    }

    private Value Call(CallExpression call, Scope scope)
    {
        var callee = Evaluate(call.Callee, scope);
        var name = Path(call.Callee);
        return callee switch
        {
            FunctionValue f => f.Invoke(EvaluateArguments(f.Name, call.Arguments, call.NamedArguments, scope)),
            UndefinedValue => throw new TemplateRuntimeError($"'{name}' is undefined, so it cannot be called (unknown function or method)"),
            _ => throw new TemplateRuntimeError($"'{name}' is {ValueOperations.Describe(callee)}, which is not callable"),
        };
    }

    private Arguments EvaluateArguments(string callee, IReadOnlyList<Expression> positional,
        IReadOnlyList<(string Name, Expression Value)> named, Scope scope)
    {
        var values = positional.Select(a => Evaluate(a, scope)).ToList();
        if (named.Count == 0) return new Arguments(callee, values, Arguments.NoNames);
        var names = new Dictionary<string, Value>();
        foreach (var (name, value) in named) names[name] = Evaluate(value, scope);
        return new Arguments(callee, values, names);
    }

    /// <summary>The source-like name of an expression (<c>message.tool_calls</c>, <c>messages[0]</c>) for error messages.</summary>
    private static string Path(Expression expression) => expression switch
    {
        NameExpression n => n.Name,
        AttributeExpression a => $"{Path(a.Target)}.{a.Name}",
        ItemExpression { Index: LiteralExpression l } i => $"{Path(i.Target)}[{l.Value.ToRepr()}]",
        ItemExpression i => $"{Path(i.Target)}[...]",
        CallExpression c => $"{Path(c.Callee)}(...)",
        _ => "(expression)",
    };
}
