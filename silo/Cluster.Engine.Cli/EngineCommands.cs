using System.CommandLine;
using System.Globalization;

namespace Cluster.Engine.Cli;

/// <summary>The command line: <c>tokenize</c>, <c>generate</c>, <c>train</c>, <c>perplexity</c>.</summary>
internal static class EngineCommands
{
    public static RootCommand Create()
    {
        var root = new RootCommand("Runs a Hugging Face checkpoint directory on the engine: tokenization, generation, per-token probabilities, training, perplexity.");
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(TrainCommand.Create());
        root.Subcommands.Add(PerplexityCommand.Create());
        return root;
    }

    /// <summary>
    /// Parses and runs <paramref name="args"/> in the invariant culture: numbers are read as typed (<c>-t 0.7</c> is
    /// not a parse error under a German locale) and printed with a decimal point (not <c>-0,160</c>, which collides
    /// with the comma-separated lists the commands print), whatever the user's locale.
    /// </summary>
    public static int Invoke(string[] args, InvocationConfiguration? configuration = null)
    {
        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        try
        {
            return Create().Parse(args).Invoke(configuration ?? new InvocationConfiguration());
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }
}
