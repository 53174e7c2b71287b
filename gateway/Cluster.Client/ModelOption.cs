using System.CommandLine;

namespace Cluster.Client;

internal static class ModelOption
{
    public static Option<string> Create() => new("--model", "-m")
    {
        Description = "Model name as listed by `models`; empty: the server's default",
        DefaultValueFactory = _ => "",
    };
}
