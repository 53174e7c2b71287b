using System.Text;
using Cluster.ChatTemplates.Syntax;
using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Rendering;

/// <summary>Runs the statements of a parsed template into a string; expressions are evaluated by <see cref="Evaluator"/>.</summary>
internal sealed class Renderer(Evaluator evaluator)
{
    /// <summary>How a body ended: normally, or by break/continue, which the nearest loop handles.</summary>
    private enum Flow { Normal, Break, Continue }

    public string Render(IReadOnlyList<Statement> body, Scope scope)
    {
        var output = new StringBuilder();
        var flow = Run(body, scope, output);
        if (flow != Flow.Normal) throw new ChatTemplateException("'{% break %}' or '{% continue %}' outside a loop", 0, 0);
        return output.ToString();
    }

    private Flow Run(IReadOnlyList<Statement> body, Scope scope, StringBuilder output)
    {
        foreach (var statement in body)
        {
            var flow = Execute(statement, scope, output);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Execute(Statement statement, Scope scope, StringBuilder output)
    {
        switch (statement)
        {
            case TextStatement text:
                output.Append(text.Text);
                return Flow.Normal;
            case OutputStatement o:
                output.Append(evaluator.Evaluate(o.Value, scope).ToText());
                return Flow.Normal;
            case IfStatement i:
                foreach (var (condition, branch) in i.Branches)
                    if (evaluator.Evaluate(condition, scope).IsTrue) return Run(branch, scope, output);
                return Run(i.Else, scope, output);
            case ForStatement f:
                return RunFor(f, scope, output);
            case SetStatement s:
                Assign(s, evaluator.Evaluate(s.Value, scope), scope);
                return Flow.Normal;
            case SetBlockStatement b:
                var captured = new StringBuilder();
                if (Run(b.Body, scope, captured) != Flow.Normal)
                    throw new ChatTemplateException("'{% break %}' or '{% continue %}' inside '{% set %}…{% endset %}'", b.Line, b.Column);
                scope.Set(b.Name, new StringValue(captured.ToString()));
                return Flow.Normal;
            case MacroStatement m:
                scope.Set(m.Name, DefineMacro(m, scope));
                return Flow.Normal;
            case LoopControlStatement c:
                return c.IsBreak ? Flow.Break : Flow.Continue;
            default:
                throw new InvalidOperationException($"unknown statement {statement.GetType().Name}");
        }
    }

    private static void Assign(SetStatement set, Value value, Scope scope)
    {
        if (set.Attribute is null)
        {
            scope.Set(set.Name, value);
            return;
        }
        if (scope.Lookup(set.Name) is not NamespaceValue ns)
            throw new ChatTemplateException(
                $"'{{% set {set.Name}.{set.Attribute} %}}' needs '{set.Name}' to be a namespace(); only namespaces can be assigned attributes",
                set.Line, set.Column);
        ns.Attributes[set.Attribute] = value;
    }

    private Flow RunFor(ForStatement loop, Scope scope, StringBuilder output)
    {
        var source = evaluator.Evaluate(loop.Items, scope);
        IReadOnlyList<Value> items;
        try { items = ValueOperations.Iterate(source); }
        catch (TemplateRuntimeError e) { throw new ChatTemplateException(e.Message, loop.Line, loop.Column); }

        var inner = new Scope(scope);
        if (loop.Filter is not null)
        {
            // Filtered first, so that loop.index, loop.length and loop.last count only what passes.
            var kept = new List<Value>();
            foreach (var item in items)
            {
                Bind(loop, item, inner);
                if (evaluator.Evaluate(loop.Filter, inner).IsTrue) kept.Add(item);
            }
            items = kept;
        }
        if (items.Count == 0) return Run(loop.Else, scope, output);

        for (var i = 0; i < items.Count; i++)
        {
            Bind(loop, items[i], inner);
            inner.Set("loop", LoopVariable(items, i));
            var flow = Run(loop.Body, inner, output);
            if (flow == Flow.Break) break;
        }
        return Flow.Normal;
    }

    private static void Bind(ForStatement loop, Value item, Scope scope)
    {
        if (loop.Targets.Count == 1)
        {
            scope.Set(loop.Targets[0], item);
            return;
        }
        var parts = item as ListValue;
        if (parts is null || parts.Items.Count != loop.Targets.Count)
            throw new ChatTemplateException(
                $"cannot unpack {ValueOperations.Describe(item)} into {loop.Targets.Count} loop variables ({string.Join(", ", loop.Targets)})",
                loop.Line, loop.Column);
        for (var t = 0; t < loop.Targets.Count; t++) scope.Set(loop.Targets[t], parts.Items[t]);
    }

    private static DictValue LoopVariable(IReadOnlyList<Value> items, int i)
    {
        var n = items.Count;
        return new DictValue(new OrderedDictionary<string, Value>
        {
            ["index"] = new IntValue(i + 1),
            ["index0"] = new IntValue(i),
            ["revindex"] = new IntValue(n - i),
            ["revindex0"] = new IntValue(n - i - 1),
            ["first"] = BoolValue.Of(i == 0),
            ["last"] = BoolValue.Of(i == n - 1),
            ["length"] = new IntValue(n),
            ["depth"] = new IntValue(1),
            ["depth0"] = new IntValue(0),
            ["previtem"] = i > 0 ? items[i - 1] : new UndefinedValue("loop.previtem"),
            ["nextitem"] = i < n - 1 ? items[i + 1] : new UndefinedValue("loop.nextitem"),
            ["cycle"] = new FunctionValue("loop.cycle", args =>
                args.Positional.Count == 0 ? throw new TemplateRuntimeError("loop.cycle() needs at least one value") : args.Positional[i % args.Positional.Count]),
        });
    }

    /// <summary>A macro is a function over a fresh scope whose parent is the scope it was defined in.</summary>
    private FunctionValue DefineMacro(MacroStatement macro, Scope definedIn) => new(macro.Name, args =>
    {
        var scope = new Scope(definedIn);
        if (args.Positional.Count > macro.Parameters.Count)
            throw new TemplateRuntimeError($"macro '{macro.Name}' takes {macro.Parameters.Count} arguments, got {args.Positional.Count}");
        foreach (var key in args.Named.Keys)
            if (!macro.Parameters.Any(p => p.Name == key))
                throw new TemplateRuntimeError($"macro '{macro.Name}' has no parameter '{key}'");
        for (var p = 0; p < macro.Parameters.Count; p++)
        {
            var (name, fallback) = macro.Parameters[p];
            var value = args.Get(p, name)
                ?? (fallback is not null ? evaluator.Evaluate(fallback, scope) : new UndefinedValue(name));
            scope.Set(name, value);
        }
        var output = new StringBuilder();
        if (Run(macro.Body, scope, output) != Flow.Normal)
            throw new TemplateRuntimeError($"'{{% break %}}' or '{{% continue %}}' outside a loop in macro '{macro.Name}'");
        return new StringValue(output.ToString());
    });
}
