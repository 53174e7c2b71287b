using Cluster.ChatTemplates.Values;

namespace Cluster.ChatTemplates.Rendering;

/// <summary>The Python dict methods templates call: <c>get</c>, <c>items</c>, <c>keys</c>, <c>values</c>.</summary>
internal static class DictMethods
{
    public static bool TryBind(DictValue target, string name, out Value method)
    {
        method = name switch
        {
            "get" => new FunctionValue("dict.get", a =>
            {
                a.Expect("key", "default");
                var key = a.Required(0, "key");
                return key is StringValue k && target.Entries.TryGetValue(k.Text, out var v) ? v : a.Get(1, "default", NoneValue.Instance);
            }),
            "items" => new FunctionValue("dict.items", a => Items(target)),
            "keys" => new FunctionValue("dict.keys", a => new ListValue(target.Entries.Keys.Select(k => (Value)new StringValue(k)).ToList())),
            "values" => new FunctionValue("dict.values", a => new ListValue(target.Entries.Values.ToList())),
            _ => null!,
        };
        return method is not null;
    }

    /// <summary>[key, value] pairs, which a two-variable for loop unpacks.</summary>
    public static ListValue Items(DictValue d) =>
        new(d.Entries.Select(e => (Value)new ListValue([new StringValue(e.Key), e.Value])).ToList());
}
