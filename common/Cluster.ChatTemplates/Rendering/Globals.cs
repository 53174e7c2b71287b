using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Rendering;

/// <summary>
/// The functions a template can call by name: Jinja's <c>namespace</c>, <c>range</c> and <c>dict</c>, and the two
/// transformers adds, <c>raise_exception</c> (the template refuses a conversation) and <c>strftime_now</c>.
/// </summary>
internal static class Globals
{
    public static void Define(Scope scope, TimeProvider clock)
    {
        scope.Set("raise_exception", new FunctionValue("raise_exception", a =>
            throw new TemplateRuntimeError(a.Expect("message").Get(0, "message", StringValue.Empty).ToText(), raisedByTemplate: true)));
        scope.Set("strftime_now", new FunctionValue("strftime_now", a =>
            new StringValue(Strftime.Format(clock.GetLocalNow(), a.Expect("format").RequiredString(0, "format")))));
        scope.Set("namespace", new FunctionValue("namespace", a =>
        {
            var attributes = new Dictionary<string, Value>();
            foreach (var initial in a.Positional)
            {
                if (initial is not DictValue d) throw new TemplateRuntimeError("namespace() takes keyword arguments or a dict");
                foreach (var (k, v) in d.Entries) attributes[k] = v;
            }
            foreach (var (k, v) in a.Named) attributes[k] = v;
            return new NamespaceValue(attributes);
        }));
        scope.Set("dict", new FunctionValue("dict", a => new DictValue(new OrderedDictionary<string, Value>(a.Named))));
        scope.Set("range", new FunctionValue("range", Range));
    }

    private static Value Range(Arguments a)
    {
        var bounds = a.Positional.Select(ValueOperations.AsLong).ToList();
        var (start, stop, step) = bounds.Count switch
        {
            1 => (0L, bounds[0], 1L),
            2 => (bounds[0], bounds[1], 1L),
            3 => (bounds[0], bounds[1], bounds[2]),
            _ => throw new TemplateRuntimeError($"range() takes 1 to 3 arguments, got {bounds.Count}"),
        };
        if (step == 0) throw new TemplateRuntimeError("range() step must not be zero");
        var items = new List<Value>();
        for (var i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (items.Count >= 100_000) throw new TemplateRuntimeError("range() is limited to 100000 items");
            items.Add(new IntValue(i));
        }
        return new ListValue(items);
    }
}
