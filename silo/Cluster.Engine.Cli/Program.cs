using System.CommandLine;
using Cluster.Engine.Cli;

var root = new RootCommand("Runs a Hugging Face checkpoint directory on the engine: tokenization, generation, per-token probabilities, training, perplexity.");
root.Subcommands.Add(TokenizeCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(PerplexityCommand.Create());
return root.Parse(args).Invoke();
